#!/usr/bin/env python3
"""Builds zh-vectors.bin: Chinese word vectors, quantised, for the exchange's semantic
relevance (`[context] semantic`).

Source: the `cnsyn` package on PyPI (1.2.0, Apache-2.0, "Query tools for Chinese
Synonyms"), which ships 129,691 word vectors (75 dimensions, from PaddleNLP's pre-trained
token embeddings, merged with a Wikipedia synonym list and a Chinese synonym dictionary)
inside a scikit-learn BallTree pickle. This script takes the vectors out of the pickle
without scikit-learn and keeps the words of 2..8 Han characters that jieba's dictionary
knows (`dict.txt` of the jieba-rs crate, frequency >= MIN_FREQ) whose vector is neither
empty nor shared with another word. Each vector is unit-normalised and stored as 75
signed bytes with one f32 scale.

Format (little-endian): b"EXEMB1\n", u32 word count, u16 dimensions; then per word: u8
byte length, the UTF-8 word, f32 scale, `dimensions` i8 values (value = i8 x scale).

Run (needs PyPI once, numpy and joblib):
    python3 configs/semantic/build.py [--jieba-dict PATH] [--out configs/semantic/zh-vectors.bin]
"""

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
import zipfile

MIN_FREQ = 5
HAN = re.compile(r"^[\u4e00-\u9fff]{2,8}$")


def vectors(wheel_dir):
    import numpy as np
    from joblib import numpy_pickle

    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "cnsyn==1.2.0", "-d", wheel_dir, "-q"],
        check=True,
    )
    wheel = glob.glob(os.path.join(wheel_dir, "cnsyn-1.2.0-*.whl"))[0]
    with zipfile.ZipFile(wheel) as z:
        path = z.extract("cnsyn/query/words_tree_mini.m", wheel_dir)

    class Stub:
        def __init__(self, *a, **k):
            pass

        def __setstate__(self, state):
            self.state = state

    class Unpickler(numpy_pickle.NumpyUnpickler):
        # The BallTree was pickled by an older scikit-learn: read its state, not the class.
        def find_class(self, module, name):
            if module.startswith("sklearn"):
                return type(name, (Stub,), {})
            return super().find_class(module, name)

    numpy_pickle.NumpyUnpickler = Unpickler
    import joblib

    tree = joblib.load(path)
    data = np.asarray(tree["model"].state[0], dtype=np.float32)
    return list(tree["words"]), data


def jieba_words(path):
    known = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                known[parts[0]] = int(parts[1])
    return known


def main():
    import struct

    import numpy as np

    parser = argparse.ArgumentParser()
    default_dict = sorted(glob.glob(os.path.expanduser(
        "~/.cargo/registry/src/*/jieba-rs-0.7.*/src/data/dict.txt")))
    parser.add_argument("--jieba-dict", default=default_dict[-1] if default_dict else None)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "zh-vectors.bin"))
    args = parser.parse_args()
    if not args.jieba_dict:
        sys.exit("jieba-rs dict.txt not found: run `cargo fetch` first or pass --jieba-dict")
    known = jieba_words(args.jieba_dict)
    with tempfile.TemporaryDirectory() as tmp:
        words, data = vectors(tmp)
    norms = np.linalg.norm(data, axis=1)
    _, first, counts = np.unique(data, axis=0, return_index=True, return_counts=True)
    unique_rows = np.zeros(len(words), dtype=bool)
    unique_rows[first[counts == 1]] = True
    keep = [
        i for i, w in enumerate(words)
        if HAN.match(w) and known.get(w, 0) >= MIN_FREQ and norms[i] > 1e-3 and unique_rows[i]
    ]
    dims = data.shape[1]
    with open(args.out, "wb") as f:
        f.write(b"EXEMB1\n")
        f.write(struct.pack("<IH", len(keep), dims))
        for i in keep:
            unit = data[i] / norms[i]
            scale = float(np.abs(unit).max()) / 127.0
            quantised = np.clip(np.round(unit / scale), -127, 127).astype(np.int8)
            word = words[i].encode("utf-8")
            f.write(struct.pack("<B", len(word)) + word + struct.pack("<f", scale) + quantised.tobytes())
    print(f"{args.out}: {len(keep)} words of {len(words)}, {dims} dimensions")


if __name__ == "__main__":
    main()
