"""Vendored reference: ppi_py's mean estimation (point estimate, CI, PPI++ power tuning), used only by the tests.

Source: https://github.com/aangelopoulos/ppi_py, commit bd90caada03a1a3473eea62c53e39123371dedb8,
files ppi_py/ppi.py (``ppi_mean_pointestimate``, ``ppi_mean_ci``, ``_calc_lam_glm``) and
ppi_py/utils/statistics_utils.py (``construct_weight_vector``, ``reshape_to_2d``).
Copied verbatim except: the imports are cut to what these functions use (no numba, sklearn), docstrings are
shortened, and the code is reformatted to fewer lines. Logic unchanged.

MIT License

Copyright (c) 2023 Anastasios Angelopoulos

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""

import numpy as np
from statsmodels.stats.weightstats import _zconfint_generic


def construct_weight_vector(n_obs, existing_weight, vectorized=False):
    res = (
        np.ones(n_obs)
        if existing_weight is None
        else existing_weight / existing_weight.sum() * n_obs
    )
    if vectorized and (len(res.shape) == 1):
        res = res[:, None]
    return res


def reshape_to_2d(x):
    """Reshapes a 1D array to a 2D array."""
    return x.reshape(-1, 1) if len(x.shape) == 1 else x.copy()


def ppi_mean_pointestimate(Y, Yhat, Yhat_unlabeled, lam=None, coord=None, w=None, w_unlabeled=None,
                           lam_optim_mode="overall"):
    """Computes the prediction-powered point estimate of the d-dimensional mean."""
    Y = reshape_to_2d(Y)
    Yhat = reshape_to_2d(Yhat)
    Yhat_unlabeled = reshape_to_2d(Yhat_unlabeled)
    n = Y.shape[0]
    N = Yhat_unlabeled.shape[0]
    d = Yhat.shape[1]

    w = construct_weight_vector(n, w, vectorized=True)
    w_unlabeled = construct_weight_vector(N, w_unlabeled, vectorized=True)

    if lam is None:
        ppi_pointest = (w_unlabeled * Yhat_unlabeled).mean(0) + (w * (Y - Yhat)).mean(0)
        grads = w * (Y - ppi_pointest)
        grads_hat = w * (Yhat - ppi_pointest)
        grads_hat_unlabeled = w_unlabeled * (Yhat_unlabeled - ppi_pointest)
        inv_hessian = np.eye(d)
        lam = _calc_lam_glm(grads, grads_hat, grads_hat_unlabeled, inv_hessian, coord=None, clip=True,
                            optim_mode=lam_optim_mode)
        return ppi_mean_pointestimate(Y, Yhat, Yhat_unlabeled, lam=lam, coord=coord, w=w,
                                      w_unlabeled=w_unlabeled)
    else:
        return (w_unlabeled * lam * Yhat_unlabeled).mean(axis=0) + (w * (Y - lam * Yhat)).mean(axis=0).squeeze()


def ppi_mean_ci(Y, Yhat, Yhat_unlabeled, alpha=0.1, alternative="two-sided", lam=None, coord=None, w=None,
                w_unlabeled=None, lam_optim_mode="overall"):
    """Computes the prediction-powered confidence interval for a d-dimensional mean."""
    n = Y.shape[0]
    N = Yhat_unlabeled.shape[0]
    d = Y.shape[1] if len(Y.shape) > 1 else 1

    Y = reshape_to_2d(Y)
    Yhat = reshape_to_2d(Yhat)
    Yhat_unlabeled = reshape_to_2d(Yhat_unlabeled)

    w = construct_weight_vector(n, w, vectorized=True)
    w_unlabeled = construct_weight_vector(N, w_unlabeled, vectorized=True)

    if lam is None:
        ppi_pointest = ppi_mean_pointestimate(Y, Yhat, Yhat_unlabeled, lam=1, w=w, w_unlabeled=w_unlabeled)
        grads = w * (Y - ppi_pointest)
        grads_hat = w * (Yhat - ppi_pointest)
        grads_hat_unlabeled = w_unlabeled * (Yhat_unlabeled - ppi_pointest)
        inv_hessian = np.eye(d)
        lam = _calc_lam_glm(grads, grads_hat, grads_hat_unlabeled, inv_hessian, coord=None, clip=True,
                            optim_mode=lam_optim_mode)
        return ppi_mean_ci(Y, Yhat, Yhat_unlabeled, alpha=alpha, lam=lam, coord=coord, w=w,
                           w_unlabeled=w_unlabeled)

    ppi_pointest = ppi_mean_pointestimate(Y, Yhat, Yhat_unlabeled, lam=lam, coord=coord, w=w,
                                          w_unlabeled=w_unlabeled)

    imputed_std = (w_unlabeled * (lam * Yhat_unlabeled)).std(0) / np.sqrt(N)
    rectifier_std = (w * (Y - lam * Yhat)).std(0) / np.sqrt(n)

    return _zconfint_generic(ppi_pointest, np.sqrt(imputed_std**2 + rectifier_std**2), alpha, alternative)


def _calc_lam_glm(grads, grads_hat, grads_hat_unlabeled, inv_hessian, coord=None, clip=False,
                  optim_mode="overall"):
    """Calculates the optimal value of lam for the prediction-powered confidence interval for GLMs."""
    grads = reshape_to_2d(grads)
    grads_hat = reshape_to_2d(grads_hat)
    grads_hat_unlabeled = reshape_to_2d(grads_hat_unlabeled)
    n = grads.shape[0]
    N = grads_hat_unlabeled.shape[0]
    d = inv_hessian.shape[0]
    if grads.shape[1] != d:
        raise ValueError("Dimension mismatch between the gradient and the inverse Hessian.")

    grads_cent = grads - grads.mean(axis=0)
    grad_hat_cent = grads_hat - grads_hat.mean(axis=0)
    cov_grads = (1 / n) * (grads_cent.T @ grad_hat_cent + grad_hat_cent.T @ grads_cent)

    var_grads_hat = np.cov(np.concatenate([grads_hat, grads_hat_unlabeled], axis=0).T)
    var_grads_hat = var_grads_hat.reshape(d, d)

    vhat = inv_hessian if coord is None else inv_hessian[coord, :]
    if optim_mode == "overall":
        num = np.trace(vhat @ cov_grads @ vhat) if coord is None else vhat @ cov_grads @ vhat
        denom = (
            2 * (1 + (n / N)) * np.trace(vhat @ var_grads_hat @ vhat)
            if coord is None
            else 2 * (1 + (n / N)) * vhat @ var_grads_hat @ vhat
        )
        lam = num / denom
        lam = lam.item()
    elif optim_mode == "element":
        num = np.diag(vhat @ cov_grads @ vhat)
        denom = 2 * (1 + (n / N)) * np.diag(vhat @ var_grads_hat @ vhat)
        lam = num / denom
    else:
        raise ValueError("Invalid value for optim_mode. Must be either 'overall' or 'element'.")
    if clip:
        lam = np.clip(lam, 0, 1)
    return lam
