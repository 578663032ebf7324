#!/usr/bin/python3
"""KeepAlives per second against an etcd-compatible endpoint (dkv or etcd).

Grants one lease, then runs STREAMS LeaseKeepAlive streams at once, each
sending COUNT renewals and reading every answer (requests are pipelined:
gRPC sends them as the generator yields). Prints renewals per second.
Rough: the client is Python (Debian's python3-etcd3 stubs) on the same
machine. Usage: bench/lease-keepalive.py HOST:PORT [STREAMS] [COUNT]
"""
import sys
import threading
import time

import grpc
from etcd3.etcdrpc import rpc_pb2, rpc_pb2_grpc


def main():
    endpoint = sys.argv[1]
    streams = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    channel = grpc.insecure_channel(endpoint)
    lease = rpc_pb2_grpc.LeaseStub(channel)
    lease_id = lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=600), timeout=10).ID
    answered = [0] * streams

    def run(i):
        stub = rpc_pb2_grpc.LeaseStub(grpc.insecure_channel(endpoint))
        requests = (rpc_pb2.LeaseKeepAliveRequest(ID=lease_id) for _ in range(count))
        for resp in stub.LeaseKeepAlive(requests, timeout=300):
            if resp.TTL > 0:
                answered[i] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(streams)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - start
    total = sum(answered)
    print(f"{endpoint}: {total} keepalives answered in {seconds:.2f} s over {streams} streams: "
          f"{total / seconds:.0f}/s")
    lease.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=lease_id), timeout=10)


if __name__ == "__main__":
    main()
