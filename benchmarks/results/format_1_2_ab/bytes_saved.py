"""What version 1.2 saves in each file a run kept: the same model's configuration as MCFG JSON and
as MCFB, its weights as format-1 and format-2 payloads (the other chunks are the same in both).

    python benchmarks/results/format_1_2_ab/bytes_saved.py <folder of .nvc files> > bytes_saved.csv
"""

import csv
import sys
from pathlib import Path

from nvcodec.bitstream.reader import read_container_file
from nvcodec.compress import model_codec, weight_codec

out = csv.writer(sys.stdout)
out.writerow(["file", "bytes", "mcfg_json", "mcfb", "weights_format_1", "weights_format_2", "saved", "saved_pct"])
for path in sorted(Path(sys.argv[1]).glob("*.nvc")):
    container = read_container_file(path, known_types=model_codec.KNOWN_TYPES)
    if container.find(model_codec.CONFIG, 0) is None:
        continue  # a file of version 1.0 / 1.1
    q = model_codec.decode_model(container)
    json_, binary = len(model_codec.json_config_payload(q.config)), len(model_codec.config_payload(q.config))
    w1, w2 = (len(weight_codec.encode_tensors(q.weights, version=v)) for v in (1, 2))
    saved = json_ - binary + w1 - w2
    size = path.stat().st_size
    out.writerow([path.name, size, json_, binary, w1, w2, saved, f"{100 * saved / size:.1f}"])
