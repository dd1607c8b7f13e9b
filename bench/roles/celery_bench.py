"""Celery peer of the throughput bench (optional: needs Debian's python3-celery and python3-redis).

The Celery app of the probes: `noop(i)` (ignore_result) counts completions in Redis so the
orchestrator can time the last one and check exact delivery; `add(a, b)` stores its result in the
Redis backend for the round trip.

  celery -A celery_bench worker ...                  (the worker; see bench/throughput.ts)
  python3 celery_bench.py produce <n> <warmup>       (publishes noop(i), prints one JSON line)
  python3 celery_bench.py rt <n> <lanes> <warmup>    (round trips add(i, 1).get(), prints one JSON line)

Environment: CELERY_BENCH_REDIS (redis URL, with a database of its own), CELERY_BENCH_PREFIX (key prefix).
"""
import json
import os
import sys
import threading
import time

import redis
from celery import Celery

REDIS_URL = os.environ.get("CELERY_BENCH_REDIS", "redis://127.0.0.1:6379/15")
PREFIX = os.environ.get("CELERY_BENCH_PREFIX", "celery-bench")

app = Celery("celery_bench", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    worker_send_task_events=False,
    task_acks_late=True,
    worker_prefetch_multiplier=16,
    broker_connection_retry_on_startup=True,
)

_redis = None


def r():
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(REDIS_URL)
    return _redis


@app.task(name="noop", ignore_result=True)
def noop(i):
    if i < 0:
        return
    pipe = r().pipeline()
    pipe.sadd(f"{PREFIX}:seen", i)
    pipe.incr(f"{PREFIX}:count")
    pipe.time()
    added, count, now = pipe.execute()
    if not added:
        r().incr(f"{PREFIX}:dup")
    r().set(f"{PREFIX}:t_last", now[0] * 1000 + now[1] / 1000)
    if count == 1:
        r().set(f"{PREFIX}:t_first", now[0] * 1000 + now[1] / 1000)


@app.task(name="add")
def add(a, b):
    return a + b


def produce(n, warmup):
    for i in range(-warmup, 0):
        noop.delay(i)
    time.sleep(0.3)
    t0 = time.time() * 1000
    for i in range(n):
        noop.delay(i)
    t1 = time.time() * 1000
    print(json.dumps({"event": "result", "probe": "celery-e2e-producer", "n": n, "t_start": t0, "publish_tasks_s": round(n / ((t1 - t0) / 1000))}), flush=True)


def rt(n, lanes, warmup):
    lock = threading.Lock()
    state = {"next": 0, "wrong": 0}
    lat = []

    def lane(end, record):
        while True:
            with lock:
                i = state["next"]
                if i >= end:
                    return
                state["next"] = i + 1
            s = time.perf_counter()
            v = add.delay(i, 1).get(timeout=30)
            if record:
                lat.append((time.perf_counter() - s) * 1000)
            if v != i + 1:
                with lock:
                    state["wrong"] += 1

    def run(count, record):
        state["next"] = 0
        ts = [threading.Thread(target=lane, args=(count, record)) for _ in range(lanes)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    run(warmup, False)
    t0 = time.perf_counter()
    run(n, True)
    secs = time.perf_counter() - t0
    lat.sort()
    pick = lambda p: round(lat[min(len(lat) - 1, int(p / 100 * len(lat)))], 2)
    print(json.dumps({"event": "result", "probe": "celery-rt", "n": n, "lanes": lanes, "tasks_s": round(n / secs), "p50_ms": pick(50), "p99_ms": pick(99), "wrong_results": state["wrong"]}), flush=True)


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "produce":
        produce(int(sys.argv[2]), int(sys.argv[3]))
    elif mode == "rt":
        rt(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        print(f"unknown mode {mode!r}; produce or rt", file=sys.stderr)
        sys.exit(2)
