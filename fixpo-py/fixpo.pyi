"""fixpo: FixPO trust-region RL with a Rust trainer (type stubs).

The docstrings of the compiled module are the reference
(`help(fixpo.FixPO)`); these stubs give editors and type checkers the
signatures.
"""
from os import PathLike
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import gymnasium
import numpy as np
import numpy.typing as npt

__version__: str
#: The compiled sizes: hidden width -> {"obs": padded observation sizes, "act": action sizes}.
MENU: Dict[int, Dict[str, List[int]]]

EnvLike = Union[str, gymnasium.Env, gymnasium.vector.VectorEnv, Callable[[], gymnasium.Env]]
Metrics = Dict[str, Any]

class FixPO:
    """FixPO with a guaranteed KL trust region, trained on a Gymnasium env."""

    def __init__(
        self,
        env: EnvLike,
        n_envs: Optional[int] = None,
        seed: int = 0,
        out_dir: Union[str, PathLike, None] = None,
        **config: Union[int, float, bool, str],
    ) -> None: ...
    def learn(
        self,
        total_timesteps: int,
        callback: Optional[Callable[[Metrics], Optional[bool]]] = None,
        progress_bar: bool = True,
        out_dir: Union[str, PathLike, None] = None,
    ) -> "FixPO": ...
    def predict(
        self, obs: npt.ArrayLike, deterministic: bool = True
    ) -> Tuple[Union[np.ndarray, int], None]: ...
    def save(self, path: Union[str, PathLike]) -> None: ...
    @property
    def num_timesteps(self) -> int: ...
    @property
    def config_toml(self) -> str: ...
    @property
    def padded_obs_size(self) -> int: ...
    @property
    def action_size(self) -> int: ...

class Policy:
    """A policy file read back by `fixpo.load`."""

    def predict(
        self, obs: npt.ArrayLike, deterministic: bool = True
    ) -> Tuple[Union[np.ndarray, int], None]: ...
    @property
    def obs_size(self) -> int: ...
    @property
    def action_size(self) -> int: ...
    @property
    def kind(self) -> str: ...

def load(path: Union[str, PathLike], seed: int = 0, action_start: int = 0) -> Policy: ...
def config_keys() -> List[str]: ...
