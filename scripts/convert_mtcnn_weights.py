"""Convert the MTCNN weights of the facenet-pytorch wheel to one safetensors file (run once).

Usage::

    pip download facenet-pytorch==2.6.0 --no-deps -d /tmp/fnp
    python scripts/convert_mtcnn_weights.py /tmp/fnp/facenet_pytorch-2.6.0-py3-none-any.whl

The wheel's ``pnet.pt``, ``rnet.pt`` and ``onet.pt`` are state dicts saved with ``torch.save``.
They are read with ``torch.load(weights_only=True)`` (no code runs), checked against emotionkit's
own network definitions, and written as ``src/emotionkit/faces/weights/mtcnn.safetensors`` with
the source file hashes in its metadata. Prints the sha256 to put in ``faces/mtcnn.py``.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

import torch
from safetensors.torch import save

from emotionkit.faces.mtcnn import ONet, PNet, RNet

OUT = Path(__file__).resolve().parents[1] / "src/emotionkit/faces/weights/mtcnn.safetensors"


def main(wheel: str) -> None:
    tensors, sources = {}, {}
    with zipfile.ZipFile(wheel) as zf:
        for name, net in (("pnet", PNet()), ("rnet", RNet()), ("onet", ONet())):
            raw = zf.read(f"facenet_pytorch/data/{name}.pt")
            sources[f"{name}.pt"] = hashlib.sha256(raw).hexdigest()
            state = torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
            net.load_state_dict(state, strict=True)  # exact names and shapes
            tensors.update({f"{name}.{k}": v.contiguous() for k, v in state.items()})
    meta = {"source": f"{Path(wheel).name} (facenet_pytorch/data/*.pt)", "licence": "MIT",
            "source_sha256": sources}
    blob = save(tensors, metadata={"emotionkit.mtcnn": json.dumps(meta)})
    OUT.write_bytes(blob)
    print(OUT, len(blob), "bytes, sha256", hashlib.sha256(blob).hexdigest())


if __name__ == "__main__":
    main(sys.argv[1])
