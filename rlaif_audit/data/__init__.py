"""Input data: pair sources and schemas, human labels, the judgment file, importers of other tools' judgments,
and the validated audit inputs built from them."""
