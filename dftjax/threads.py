"""Threads that do JAX work for their caller: dftjax runs some work beside the caller's
(integral classes compiled side by side, the XC grid beside the integrals, a program
prepared ahead of its call). JAX keeps some settings per thread, the default device
among them (``with jax.default_device(...)``), and a new thread starts without them, so
work handed to one must carry the caller's over."""

import jax


def with_callers_settings(function):
    """``function`` wrapped to run under the calling thread's default device, wherever
    the wrapper is later called (a thread of a pool)."""
    device = jax.config.jax_default_device

    def run(*args, **kwargs):
        with jax.default_device(device):
            return function(*args, **kwargs)
    return run
