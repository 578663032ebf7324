# The python3-etcd3 part of the etcd compatibility diff (etcd_compat_test.cc):
# Debian's python3-etcd3 against one endpoint (argv: host port), printing
# what it got back, revisions included, one fact a line. Run with
# /usr/bin/python3 (Debian's, which has the module).
import sys

import etcd3


def kv_line(value, meta):
    return "%r %r create=%d mod=%d version=%d" % (
        meta.key, value, meta.create_revision, meta.mod_revision, meta.version)


def main():
    client = etcd3.client(host=sys.argv[1], port=int(sys.argv[2]), timeout=10)
    for i, name in enumerate(["a", "b", "c"]):
        r = client.put("/py/" + name, "value-%d" % i)
        print("put /py/%s revision=%d" % (name, r.header.revision))
    r = client.put("/py/a", "again", prev_kv=True)
    print("put /py/a revision=%d prev=%r" % (r.header.revision, r.prev_kv.value))
    for value, meta in client.get_prefix("/py/"):
        print("get_prefix " + kv_line(value, meta))
    value, meta = client.get("/py/b")
    print("get " + kv_line(value, meta))
    print("get missing %r" % (client.get("/py/missing"),))

    t = client.transactions
    ok, responses = client.transaction(
        compare=[t.value("/py/a") == "again", t.version("/py/b") == 1],
        success=[t.put("/py/b", "swapped"), t.get("/py/a")],
        failure=[t.delete("/py/a")])
    print("txn succeeded=%s" % ok)
    print("txn put revision=%d" % responses[0].response_put.header.revision)
    for value, meta in responses[1]:
        print("txn get " + kv_line(value, meta))
    ok, responses = client.transaction(
        compare=[t.mod("/py/c") > 1000, t.create("/py/c") != 0],
        success=[t.delete("/py/c")],
        failure=[t.get("/py/c"), t.put("/py/d", "from-failure")])
    print("txn succeeded=%s" % ok)
    for value, meta in responses[0]:
        print("txn get " + kv_line(value, meta))
    print("txn put revision=%d" % responses[1].response_put.header.revision)

    r = client.delete_prefix("/py/")
    print("delete_prefix deleted=%d revision=%d" % (r.deleted, r.header.revision))
    print("after delete_prefix %r" % (list(client.get_prefix("/py/")),))
    client.close()


if __name__ == "__main__":
    main()
