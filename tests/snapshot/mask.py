#!/usr/bin/env python3
"""Mask what changes from run to run in a tests/snapshot/record.sh snapshot: every number
becomes N (PIDs, times, latencies, sizes, ports), and in `lab check --json` the verdict of
questions graded against a measurement (numbers, sizes, durations) is dropped, since the
workload's timing decides it; the source tree's path (REPO...) becomes REPO.
Usage: mask.py RAW_DIR MASKED_DIR [REPO...]"""
import json, os, re, sys

NUMERIC_IDS = {"io_size", "outlier_size", "outlier_latency", "processes", "login_time",
               "threads", "bytes", "runqlat_p99", "problems"}
NUMBER = re.compile(r"\d+(\.\d+)?")


def mask_text(text, repos):
    text = re.sub(r"/var/tmp/lab-snapshot\.\w+", "STATE", text)
    for r in repos:
        text = text.replace(r, "REPO")
    return NUMBER.sub("N", text)


def mask_doc(doc):
    """Drop the verdicts a measurement decides: a numeric question's `passed` (in `lab check`'s
    questions and in the progress's answers), and so the check's and the lab's overall verdict."""
    if isinstance(doc, dict):
        if doc.get("id") in NUMERIC_IDS:
            for k in ("passed", "passed_by", "over_time"):
                doc.pop(k, None)
        if "questions" in doc or "answers" in doc:
            for k in ("passed", "passed_at", "status", "last_check"):
                doc.pop(k, None)
        for v in doc.values():
            mask_doc(v)
    elif isinstance(doc, list):
        for v in doc:
            mask_doc(v)
    return doc


def main(raw, masked, repos):
    os.makedirs(masked, exist_ok=True)
    for name in sorted(os.listdir(raw)):
        text = open(os.path.join(raw, name), errors="replace").read()
        if "json" in name and name.endswith(".out") and text.strip().startswith("{"):
            try:
                text = json.dumps(mask_doc(json.loads(text)), indent=1, sort_keys=True)
            except json.JSONDecodeError:
                pass
        open(os.path.join(masked, name), "w").write(mask_text(text, repos))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
