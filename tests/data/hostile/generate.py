#!/usr/bin/env python3
"""Writes the hostile layer corpus of tests/hostile.rs: one small tar per case,
crafted header by header (no tar library, so nothing gets "fixed" on the way).
The expected outcome of each case is in the table of tests/hostile.rs.

Run from anywhere: python3 tests/data/hostile/generate.py
The outputs are committed; rerunning must reproduce them byte for byte."""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def octal(n, width):
    return (b"%0*o" % (width - 1, n)) + b"\0"


def header(name, kind=b"0", size=0, mode=0o644, uid=0, gid=0, mtime=1700000000,
           link=b"", major=0, minor=0, prefix=b"", raw=None, checksum=None):
    """One 512-byte ustar header; `raw` overrides byte ranges before the
    checksum is computed: {offset: bytes}."""
    if isinstance(name, str):
        name = name.encode()
    if isinstance(link, str):
        link = link.encode()
    h = bytearray(512)
    h[0:100] = name[:100].ljust(100, b"\0")
    h[100:108] = octal(mode, 8)
    h[108:116] = octal(uid, 8)
    h[116:124] = octal(gid, 8)
    h[124:136] = octal(size, 12)
    h[136:148] = octal(mtime, 12)
    h[156:157] = kind
    h[157:257] = link[:100].ljust(100, b"\0")
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    h[265:297] = b"root".ljust(32, b"\0")
    h[297:329] = b"root".ljust(32, b"\0")
    h[329:337] = octal(major, 8)
    h[337:345] = octal(minor, 8)
    h[345:500] = prefix[:155].ljust(155, b"\0")
    for off, b in (raw or {}).items():
        h[off:off + len(b)] = b
    h[148:156] = b" " * 8
    s = sum(h) if checksum is None else checksum
    h[148:156] = b"%06o\0 " % s
    return bytes(h)


def pad(data):
    return data + b"\0" * (-len(data) % 512)


def entry(name, data=b"", **kw):
    return header(name, size=len(data), **kw) + pad(data)


def pax(records, kind=b"x", name="././@PaxHeader"):
    body = b""
    for k, v in records:
        if isinstance(v, str):
            v = v.encode()
        rec = k.encode() + b"=" + v + b"\n"
        n = len(rec) + 2
        while len(b"%d " % n) + len(rec) != n:
            n += 1
        body += b"%d " % n + rec
    return header(name, kind=kind, size=len(body)) + pad(body)


def end():
    return b"\0" * 1024


def base256(n, width):
    """GNU base-256: high bit set, big-endian two's complement."""
    b = (n % (1 << (8 * width))).to_bytes(width, "big")
    return bytes([b[0] | 0x80]) + b[1:] if n >= 0 else b


# --- path traversal and absolute names ---------------------------------------
@case
def dotdot_file():
    return entry("../canary/pwned", b"escaped\n") + end()

@case
def dotdot_nested():
    return entry("a/b/../../../canary/pwned", b"escaped\n") + end()

@case
def dotdot_in_prefix():
    return entry("pwned", b"x", prefix=b"../../canary") + end()

@case
def dotdot_in_pax_path():
    return pax([("path", "ok/../../canary/pwned")]) + entry("placeholder", b"x") + end()

@case
def absolute_names():
    return (entry("/etc/passwd", b"root:x:0:0\n") + entry("//usr///bin/./tool", b"#!\n")
            + end())

@case
def absolute_dotdot():
    return entry("/../../tmp/sealer-hostile-canary/pwned", b"x") + end()

@case
def nul_in_pax_path():
    return pax([("path", "a\0b")]) + entry("placeholder", b"x") + end()

# --- symlink and hard-link escapes -------------------------------------------
@case
def symlink_dir_escape():
    return (entry("etc", kind=b"2", link="/etc") + entry("etc/pwned", b"x") + end())

@case
def symlink_relative_escape():
    return (entry("up", kind=b"2", link="../../../..") + entry("up/canary/pwned", b"x") + end())

@case
def symlink_targets_kept():
    return (entry("abs", kind=b"2", link="/etc/shadow")
            + entry("rel", kind=b"2", link="../../../../etc/shadow")
            + entry("loop1", kind=b"2", link="loop2") + entry("loop2", kind=b"2", link="loop1")
            + end())

@case
def hardlink_dotdot():
    return entry("h", kind=b"1", link="../../etc/passwd") + end()

@case
def hardlink_absolute_host():
    return entry("h", kind=b"1", link="/etc/passwd") + end()

@case
def hardlink_later_entry():
    return entry("h", kind=b"1", link="later") + entry("later", b"data") + end()

@case
def hardlink_missing():
    return entry("h", kind=b"1", link="nothing/here") + end()

@case
def hardlink_to_dir():
    return entry("d/", kind=b"5", mode=0o755) + entry("h", kind=b"1", link="d") + end()

@case
def hardlink_through_symlink():
    return entry("s", kind=b"2", link="/etc") + entry("h", kind=b"1", link="s/passwd") + end()

@case
def hardlink_absolute_inside():
    return entry("f", b"shared\n") + entry("g", kind=b"1", link="/f") + end()

# --- sizes and numeric fields ------------------------------------------------
@case
def size_8g_no_data():
    return header("big", size=0o77777777777) + b"\0" * 512

@case
def size_base256_max():
    return header("big", raw={124: base256(2**63 - 1, 12)}) + b"\0" * 512

@case
def size_negative():
    return header("neg", raw={124: base256(-1, 12)}) + end()

@case
def size_not_octal():
    return header("bad", raw={124: b"9999999999\0\0"}) + end()

@case
def uid_overflow():
    return header("u", raw={108: base256(2**40, 8)}) + end()

@case
def mtime_overflow():
    return header("t", raw={136: bytes([0x80]) + b"\xff" * 11}) + end()

@case
def mode_high_bits():
    return entry("m", b"x", mode=0o7777777) + end()

@case
def bad_checksum():
    return header("c", checksum=1) + end()

# --- truncation --------------------------------------------------------------
@case
def truncated_header():
    return entry("first", b"ok") + header("second")[:300]

@case
def truncated_data():
    return header("cut", size=4096) + b"y" * 100

@case
def truncated_pax():
    return header("././@PaxHeader", kind=b"x", size=400) + b"30 path=never/finished/here\n"

# --- PAX and GNU meta records --------------------------------------------------
@case
def pax_size_gigabytes():
    return pax([("size", "4000000000")]) + header("huge") + end()

@case
def pax_size_u64_max():
    return pax([("size", "18446744073709551615")]) + header("huge") + end()

@case
def pax_header_claims_gigabytes():
    return header("././@PaxHeader", kind=b"x", size=3 * 2**30) + b"30 path=x\n".ljust(512, b"\0")

@case
def pax_bad_length():
    return header("././@PaxHeader", kind=b"x", size=10) + pad(b"99 path=x\n") + entry("f") + end()

@case
def pax_uid_overflow():
    return pax([("uid", "4294967296")]) + entry("f", b"x") + end()

@case
def pax_mtime_extreme():
    return pax([("mtime", "-9223372036854775808.5")]) + entry("f", b"x") + end()

@case
def pax_mtime_double_minus():
    return pax([("mtime", "--9223372036854775808")]) + entry("f", b"x") + end()

@case
def pax_xattrs_and_long_link():
    return (pax([("SCHILY.xattr.user.big", "v" * 200000), ("linkpath", "t" * 70000)])
            + header("l", kind=b"2") + end())

@case
def pax_sparse():
    return pax([("GNU.sparse.size", "1000")]) + entry("f", b"x") + end()

@case
def gnu_longname_huge():
    return header("././@LongLink", kind=b"L", size=100 * 2**20) + b"a" * 512

@case
def unsupported_type():
    return header("weird", kind=b"S") + end()

# --- deep paths, duplicates --------------------------------------------------
@case
def deep_path_10k():
    deep = "/".join(["d"] * 10000) + "/leaf"
    return pax([("path", deep)]) + entry("placeholder", b"deep\n") + end()

@case
def duplicate_files():
    return entry("f", b"first\n") + entry("f", b"second\n", mode=0o600) + end()

@case
def duplicate_dir_then_file():
    return (entry("d/", kind=b"5", mode=0o755) + entry("d/child", b"x")
            + entry("d", b"now a file\n") + end())

@case
def file_under_file():
    return entry("f", b"x") + entry("f/child", b"y") + end()

@case
def root_as_file():
    return entry("./", b"x") + end()

@case
def root_attrs():
    return entry("./", kind=b"5", mode=0o700, uid=5, gid=6) + entry("f", b"x") + end()

# --- whiteouts ---------------------------------------------------------------
@case
def whiteout_of_root():
    return entry(".wh.", b"") + end()

@case
def whiteout_of_dotdot():
    return entry("a/.wh...", b"") + end()

@case
def whiteout_of_dot():
    return entry(".wh..", b"") + end()

@case
def whiteout_as_directory():
    return entry(".wh.dir/inside", b"x") + end()

@case
def whiteout_names_odd():
    return (entry("a/.wh..wh..opq", b"")
            + entry("a/.wh..wh.aufs", b"") + entry("b/.wh.gone", b"whiteout data")
            + entry("b/x.wh.y", b"plain") + end())

@case
def aufs_meta_dirs():
    return entry(".wh..wh.plnk/123.456", b"hardlink store") + entry("kept", b"x") + end()

@case
def whiteout_then_same_name():
    return entry(".wh.f", b"") + entry("f", b"back\n") + entry(".wh.d", b"") + entry("d/x", b"y") + end()

# --- special files -----------------------------------------------------------
@case
def device_nodes():
    return (entry("dev/null", kind=b"3", mode=0o666, major=1, minor=3)
            + entry("dev/sda", kind=b"4", mode=0o660, major=8, minor=0)
            + entry("dev/fifo", kind=b"6", mode=0o644) + end())

@case
def setuid_files():
    return (entry("bin/su", b"#!/bin/sh\n", mode=0o4755)
            + entry("bin/wall", b"#!/bin/sh\n", mode=0o2755, gid=5)
            + entry("tmp/", kind=b"5", mode=0o1777) + end())

@case
def empty_archive():
    return b""

@case
def trailing_garbage():
    return entry("f", b"x") + end() + b"\x01garbage after the end\n"


def main():
    for old in os.listdir(HERE):
        if old.endswith(".tar"):
            os.remove(os.path.join(HERE, old))
    for name, fn in CASES.items():
        with open(os.path.join(HERE, name + ".tar"), "wb") as f:
            f.write(fn())
    print(f"{len(CASES)} hostile layers in {HERE}")


if __name__ == "__main__":
    main()
