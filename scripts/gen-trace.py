#!/usr/bin/env python3
"""Writes a synthetic trace in one of the formats llmload replays (python3 stdlib only).

    scripts/gen-trace.py --format mooncake --records 1000000 --rate 500 --out /tmp/big.jsonl

Arrivals are Poisson at --rate requests/s. Mooncake traces share block-hash prefixes the way
production chat traffic does: most requests start with one of a few popular system prompts
(a Zipf-like pick), and about a third continue a recent conversation, repeating its whole
history as a prefix and adding new blocks. The file is written as it is generated, so a
million records take a few MB of memory. Same --seed, same file.
"""

import argparse
import json
import math
import random
import sys
from datetime import datetime, timedelta

FORMATS = ("mooncake", "azure", "burstgpt", "jsonl")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--format", choices=FORMATS, default="mooncake")
    p.add_argument("--records", type=int, required=True, help="records to write")
    p.add_argument("--rate", type=float, required=True, help="mean arrivals per second")
    p.add_argument("--out", required=True, help="output file ('-' for stdout)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--block-size", type=int, default=512, help="tokens per mooncake hash block")
    p.add_argument("--fail-rate", type=float, default=0.02, help="burstgpt rows logged as failed")
    p.add_argument("--start", default="2024-05-10 00:00:00", help="azure: the first TIMESTAMP")
    a = p.parse_args()
    if a.records < 1 or a.rate <= 0 or a.block_size < 1 or not 0 <= a.fail_rate < 1:
        p.error("--records and --block-size must be at least 1, --rate above 0, --fail-rate in [0, 1)")
    return a


def output_tokens(rng):
    """Lognormal around 250 tokens, as chat replies are."""
    return max(1, min(4000, int(rng.lognormvariate(math.log(250), 0.9))))


class Prefixes:
    """Block hashes: a few shared system prompts, conversations that grow, fresh blocks."""

    def __init__(self, rng, groups=8, live=64):
        self.rng = rng
        self.next_id = 0
        self.groups = [self.fresh(rng.randint(1, 6)) for _ in range(groups)]
        self.weights = [1.0 / (i + 1) for i in range(groups)]  # Zipf-like popularity
        self.live = []  # recent conversations' hash_ids, bounded
        self.live_max = live

    def fresh(self, n):
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n
        return ids

    def request(self):
        rng = self.rng
        if self.live and rng.random() < 0.35:
            i = rng.randrange(len(self.live))
            ids = self.live[i] + self.fresh(rng.randint(1, 3))
            if len(ids) > 200:  # a conversation past ~100k tokens starts over
                ids = ids[:8]
            self.live[i] = ids
            return ids
        head = rng.choices(self.groups, self.weights)[0] if rng.random() < 0.8 else []
        ids = head + self.fresh(max(1, int(rng.lognormvariate(math.log(4), 0.8))))
        if len(self.live) < self.live_max:
            self.live.append(ids)
        else:
            self.live[rng.randrange(self.live_max)] = ids
        return ids


def write(a, out):
    rng = random.Random(a.seed)
    prefixes = Prefixes(rng)
    start = datetime.strptime(a.start, "%Y-%m-%d %H:%M:%S")
    sessions = []  # jsonl: (session id, turns left)
    next_session = 0
    if a.format == "azure":
        out.write("TIMESTAMP,ContextTokens,GeneratedTokens\n")
    elif a.format == "burstgpt":
        out.write("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n")
    t_us = 0
    for n in range(a.records):
        if n:
            t_us += int(rng.expovariate(a.rate) * 1e6)
        if a.format == "mooncake":
            ids = prefixes.request()
            inp = len(ids) * a.block_size - rng.randrange(a.block_size)
            rec = {"timestamp": t_us // 1000, "input_length": inp, "output_length": output_tokens(rng), "hash_ids": ids}
            out.write(json.dumps(rec, separators=(", ", ": ")) + "\n")
            continue
        inp = max(1, min(100_000, int(rng.lognormvariate(math.log(1500), 1.0))))
        outp = output_tokens(rng)
        if a.format == "azure":
            ts = start + timedelta(microseconds=t_us)
            frac = f"{ts.microsecond:06d}0"  # the published trace writes 7 digits, the last 0
            out.write(f"{ts:%Y-%m-%d %H:%M:%S}.{frac},{inp},{outp}\n")
        elif a.format == "burstgpt":
            model = "GPT-4" if rng.random() < 0.2 else "ChatGPT"
            log = "API log" if rng.random() < 0.3 else "Conversation log"
            if rng.random() < a.fail_rate:
                outp = 0
            out.write(f"{t_us / 1e6:.3f},{model},{inp},{outp},{inp + outp},{log}\n")
        else:
            rec = {"timestamp_ms": t_us // 1000, "input_tokens": inp, "output_tokens": outp}
            if sessions and rng.random() < 0.5:
                i = rng.randrange(len(sessions))
                sid, left = sessions[i]
                rec["session_id"] = sid
                if left <= 1:
                    sessions.pop(i)
                else:
                    sessions[i] = (sid, left - 1)
            elif rng.random() < 0.4:
                sid = f"s{next_session}"
                next_session += 1
                sessions.append((sid, rng.randint(1, 4)))
                rec["session_id"] = sid
            out.write(json.dumps(rec) + "\n")


def main():
    a = parse_args()
    if a.out == "-":
        write(a, sys.stdout)
    else:
        with open(a.out, "w", encoding="utf-8", buffering=1 << 20) as out:
            write(a, out)


if __name__ == "__main__":
    main()
