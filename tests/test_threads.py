"""dftjax.threads: work handed to another thread runs under the caller's default device
(JAX keeps it per thread; a new thread would start without it)."""

from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp

from dftjax.threads import with_callers_settings


def _default_device_and_placement():
    return jax.config.jax_default_device, next(iter(jnp.zeros(2).devices()))


def test_a_thread_runs_under_the_callers_default_device():
    device = jax.devices()[-1]
    with jax.default_device(device), ThreadPoolExecutor(max_workers=1) as pool:
        bare = pool.submit(_default_device_and_placement).result()
        carried = pool.submit(with_callers_settings(_default_device_and_placement)).result()
    assert bare[0] is None  # what the wrapper is for
    assert carried == (device, device)


def test_without_a_setting_the_thread_has_none_either():
    with ThreadPoolExecutor(max_workers=1) as pool:
        setting, _ = pool.submit(with_callers_settings(_default_device_and_placement)).result()
    assert setting is None
