#!/usr/bin/env python3
"""Prints what TensorBoard itself reads from the event files of a folder, as JSON.

Usage: .venv-tb/bin/python Scripts/read_tensorboard.py DIR   (the venv comes from `make tb-env`)

Output: {"files": [{"name", "events": [{"wall_time", "step", "file_version"?, "session_start"?,
"scalars"?: {tag: value}}]}], "scalars": {tag: [[step, value, wall_time], ...]}}

"files" lists each event file (in TensorBoard's reading order) record by record, read with
TensorBoard's record reader, which raises on a bad CRC or a truncated record. "scalars" is
EventAccumulator's merged view of the folder, after its purge of orphaned steps, with nothing
sampled away. Non-finite values are written as the strings "NaN", "Infinity", "-Infinity".
Used by Tests/TrainingTests/TensorBoardTests.swift; ClipGuard never runs Python.
"""
import json
import math
import os
import sys

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow


def number(x):
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def records(path):
    """Every record of one file; unlike EventFileLoader, a bad CRC or truncation is an error."""
    reader = pywrap_tensorflow.PyRecordReader_New(path.encode(), 0, b"", None)
    while True:
        try:
            reader.GetNext()
        except errors.OutOfRangeError:
            return
        yield reader.record()


def describe(event):
    out = {"wall_time": event.wall_time, "step": event.step}
    if event.HasField("file_version"):
        out["file_version"] = event.file_version
    if event.HasField("session_log"):
        out["session_start"] = event.session_log.status == event_pb2.SessionLog.START
    if event.HasField("summary"):
        out["scalars"] = {v.tag: number(v.simple_value) for v in event.summary.value
                          if v.HasField("simple_value")}
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: read_tensorboard.py DIR")
    folder = sys.argv[1]
    names = sorted(n for n in os.listdir(folder) if "tfevents" in n)
    files = []
    for name in names:
        events = []
        for raw in records(os.path.join(folder, name)):
            event = event_pb2.Event()
            event.ParseFromString(raw)
            events.append(describe(event))
        files.append({"name": name, "events": events})
    accumulator = event_accumulator.EventAccumulator(
        folder, size_guidance={event_accumulator.SCALARS: 0})
    accumulator.Reload()
    scalars = {tag: [[e.step, number(e.value), e.wall_time] for e in accumulator.Scalars(tag)]
               for tag in accumulator.Tags()["scalars"]}
    json.dump({"files": files, "scalars": scalars}, sys.stdout, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
