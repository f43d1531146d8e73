"""Judging: the Evaluator base and its options, the rubric, labeling, models and reward-model scoring."""
