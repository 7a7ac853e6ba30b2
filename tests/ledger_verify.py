#!/usr/bin/env python3
"""An independent verifier of the exchange's money ledger, written from docs/ledger.md
alone: standard library only (SHA-256 from hashlib, Ed25519 verification from RFC 8032
section 6, the Merkle tree of RFC 9162). Shares no code with the exchange.

  python3 ledger_verify.py EXPORT.jsonl [--key HEX]
      checks the chain, checkpoints, statements; prints "ok ..." or "bad: entry N: why"
  python3 ledger_verify.py --statement STATEMENT.json --index N [--key HEX]
      checks one statement line against the signed root by its inclusion proof

Exit status 0 when sound, 1 when not.
"""

import hashlib
import json
import sys

# ---- Ed25519 verification (RFC 8032 section 6, the reference code) ----

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _add(a, b):
    A = (a[1] - a[0]) * (b[1] - b[0]) % P
    B = (a[1] + a[0]) * (b[1] + b[0]) % P
    C = 2 * a[3] * b[3] * D % P
    Dd = 2 * a[2] * b[2] % P
    E, F, G, H = B - A, Dd - C, Dd + C, B + A
    return (E * F % P, G * H % P, F * G % P, E * H % P)


def _mul(s, point):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, point)
        point = _add(point, point)
        s >>= 1
    return q


def _equal(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


def _recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


def _decompress(s):
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


G_Y = 4 * pow(5, P - 2, P) % P
G = (_recover_x(G_Y, 0), G_Y, 1, _recover_x(G_Y, 0) * G_Y % P)


def ed25519_verify(public, message, signature):
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _decompress(public)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % L
    return _equal(_mul(s, G), _add(r, _mul(h, a)))


# ---- Merkle tree (RFC 9162 section 2.1) ----


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves):
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def verify_inclusion(leaf, index, size, path, root):
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# ---- the ledger ----


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def has_float(value):
    if isinstance(value, float):
        return True
    if isinstance(value, list):
        return any(has_float(v) for v in value)
    if isinstance(value, dict):
        return any(has_float(v) for v in value.values())
    return False


TOTALLED = ("commission_micros", "fee_micros", "payout_micros")


class Bad(Exception):
    pass


def verify(lines, key=None):
    prev = None
    expected = None
    checkpoints = statements = entries = 0
    open_statements = {}
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            entry = json.loads(text)
            seq, given_prev, given_hash, body_text = (
                entry["seq"], entry["prev"], entry["hash"], entry["body"])
        except (ValueError, KeyError, TypeError) as error:
            raise Bad(f"entry {expected or 0} (line {number}): not an entry: {error}")
        where = f"entry {seq} (line {number})"
        prev_bytes = bytes.fromhex(given_prev)
        if prev is None:
            if seq == 0 or (seq == 1 and prev_bytes != bytes(32)):
                raise Bad(f"{where}: the first entry does not start the chain")
        else:
            if seq != expected:
                raise Bad(f"{where}: expected entry {expected}: removed, inserted or reordered")
            if prev_bytes != prev:
                raise Bad(f"{where}: prev is not the previous entry's hash")
        digest = hashlib.sha256(prev_bytes + body_text.encode("utf-8")).digest()
        if digest.hex() != given_hash.lower():
            raise Bad(f"{where}: hash does not match prev and body (altered)")
        body = json.loads(body_text)
        if has_float(body) or canonical(body) != body_text:
            raise Bad(f"{where}: body is not in canonical form")
        kind = body.get("kind")
        if kind == "checkpoint":
            if body.get("covers") != seq - 1 or body.get("head") != given_prev:
                raise Bad(f"{where}: checkpoint does not cover the entries before it")
            key = key or body["key"]
            if body["key"] != key:
                raise Bad(f"{where}: checkpoint signed by another key")
            message = f"exchange-ledger-checkpoint-v1\n{seq - 1}\n{given_prev}".encode()
            if not ed25519_verify(bytes.fromhex(key), message, bytes.fromhex(body["sig"])):
                raise Bad(f"{where}: checkpoint signature does not hold")
            checkpoints += 1
        elif kind == "statement_line":
            gathered = open_statements.setdefault((body["period"], body["party"]), ([], {}))
            if body["index"] != len(gathered[0]):
                raise Bad(f"{where}: statement line out of order")
            line = body["line"]
            gathered[0].append(leaf_hash(canonical(line).encode("utf-8")))
            for name in TOTALLED:
                gathered[1][name] = gathered[1].get(name, 0) + line.get(name, 0)
        elif kind == "statement":
            period, party = body["period"], body["party"]
            leaves, sums = open_statements.pop((period, party), ([], {}))
            root = merkle_root(leaves)
            if body["root"] != root.hex():
                raise Bad(f"{where}: statement {period}/{party}: root does not match its lines")
            if body["lines"] != len(leaves):
                raise Bad(f"{where}: statement: line count does not match")
            for name in TOTALLED:
                if body["totals"].get(name) != sums.get(name, 0):
                    raise Bad(f"{where}: statement: {name} total is not the sum of its lines")
            key = key or body["key"]
            message = f"exchange-statement-v1\n{period}\n{party}\n{root.hex()}".encode()
            if not ed25519_verify(bytes.fromhex(key), message, bytes.fromhex(body["sig"])):
                raise Bad(f"{where}: statement signature does not hold")
            statements += 1
        elif not kind:
            raise Bad(f"{where}: body has no kind")
        prev = digest
        expected = seq + 1
        entries += 1
    if open_statements:
        (period, party), _ = next(iter(open_statements.items()))
        raise Bad(f"entry {expected}: statement {period}/{party} has lines but no statement entry")
    return entries, checkpoints, statements, (prev or b"").hex()


def check_line(statement, index, key=None):
    entry = statement["lines"][index]
    text = entry["canonical"]
    line = json.loads(text)
    if canonical(line) != text or entry["line"] != line:
        raise Bad(f"line {index}: not the canonical line shown")
    root = bytes.fromhex(statement["root"])
    path = [bytes.fromhex(h) for h in entry["proof"]]
    if not verify_inclusion(leaf_hash(text.encode("utf-8")), index, statement["size"], path, root):
        raise Bad(f"line {index}: the proof does not lead to the root")
    key = key or statement["key"]
    message = f"exchange-statement-v1\n{statement['period']}\n{statement['party']}\n{root.hex()}"
    if not ed25519_verify(bytes.fromhex(key), message.encode(), bytes.fromhex(statement["sig"])):
        raise Bad(f"line {index}: the root is not signed by the key")
    return line


def main(argv):
    key = None
    if "--key" in argv:
        at = argv.index("--key")
        key = argv[at + 1].lower()
        del argv[at:at + 2]
    try:
        if "--statement" in argv:
            with open(argv[argv.index("--statement") + 1], encoding="utf-8") as f:
                statement = json.load(f)
            index = int(argv[argv.index("--index") + 1])
            line = check_line(statement, index, key)
            print(f"ok: line {index} ({line['order_id']}/{line['line_id']}) is in the signed statement")
        else:
            with open(argv[0], encoding="utf-8") as f:
                entries, checkpoints, statements, head = verify(f.read().split("\n"), key)
            print(f"ok: {entries} entries, {checkpoints} checkpoints, {statements} statements, head {head}")
        return 0
    except Bad as problem:
        print(f"bad: {problem}")
        return 1
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
        print(f"bad: malformed input: {error!r}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
