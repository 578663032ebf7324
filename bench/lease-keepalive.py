#!/usr/bin/python3
"""KeepAlives per second against an etcd-compatible endpoint (dkv or etcd).

Grants one lease, then runs PROCESSES client processes of STREAMS
LeaseKeepAlive streams each, every stream sending COUNT renewals and reading
every answer (requests are pipelined: gRPC sends them as the generator
yields). Prints renewals per second over all of them. Rough: the client is
Python (Debian's python3-etcd3 stubs) on the same machine; one process
tops out near 4,000/s (the GIL), so use several to load the server.
Usage: bench/lease-keepalive.py HOST:PORT [STREAMS] [COUNT] [PROCESSES]
"""
import multiprocessing
import sys
import threading
import time

import grpc
from etcd3.etcdrpc import rpc_pb2, rpc_pb2_grpc


def client(endpoint, lease_id, streams, count, start, out):
    answered = [0] * streams

    def run(i):
        stub = rpc_pb2_grpc.LeaseStub(grpc.insecure_channel(endpoint))
        requests = (rpc_pb2.LeaseKeepAliveRequest(ID=lease_id) for _ in range(count))
        for resp in stub.LeaseKeepAlive(requests, timeout=300):
            if resp.TTL > 0:
                answered[i] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(streams)]
    start.wait()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(sum(answered))


def main():
    endpoint = sys.argv[1]
    streams = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    processes = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    lease = rpc_pb2_grpc.LeaseStub(grpc.insecure_channel(endpoint))
    lease_id = lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=600), timeout=10).ID
    ctx = multiprocessing.get_context("spawn")  # No gRPC state across fork.
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=client, args=(endpoint, lease_id, streams, count, start, out))
             for _ in range(processes)]
    for p in procs:
        p.start()
    time.sleep(1)  # Let every process import and get ready.
    begin = time.monotonic()
    start.set()
    total = sum(out.get() for _ in procs)
    seconds = time.monotonic() - begin
    for p in procs:
        p.join()
    print(f"{endpoint}: {total} keepalives answered in {seconds:.2f} s over {processes} x "
          f"{streams} streams: {total / seconds:.0f}/s")
    # A new channel: the first one sat idle and may have been closed.
    lease = rpc_pb2_grpc.LeaseStub(grpc.insecure_channel(endpoint))
    lease.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=lease_id), timeout=10)


if __name__ == "__main__":
    main()
