"""Writes items through a SearchStore in a loop, printing each id once upsert has returned.

    python writer.py DATA_DIR COLLECTION PREFIX COUNT BATCH

Used by the durability test (killed with SIGKILL mid-stream: every printed id must survive)
and the two-process test (two of these write the same store at once).
"""

import sys

import numpy as np

from mmserve.store import SearchStore


def main() -> None:
    data_dir, collection, prefix, count, batch = sys.argv[1:6]
    rng = np.random.default_rng(abs(hash(prefix)) % 2**32)
    with SearchStore(data_dir) as store:
        for start in range(0, int(count), int(batch)):
            ids = [f"{prefix}-{i}" for i in range(start, start + int(batch))]
            vectors = rng.standard_normal((len(ids), 16))
            items = [
                {"id": i, "vector": v, "metadata": {"writer": prefix}}
                for i, v in zip(ids, vectors, strict=True)
            ]
            store.upsert_items(collection, items)
            print("\n".join(ids), flush=True)  # acknowledged: upsert returned


if __name__ == "__main__":
    main()
