"""Makes PyPI's Linux torch wheel import on a CPU-only machine without its GBs of CUDA wheels.

PyPI's x86-64 Linux torch wheel is a CUDA build: its libraries name libcudart, cuBLAS, cuDNN, NCCL,
… as DT_NEEDED, which come from nvidia-* wheels of several GB. This benchmark needs only the CPU
kernels (libtorch_cpu.so, which the wheel ships complete), so install the wheel with `--no-deps`
and run this script: for each CUDA library the torch libraries need but nothing provides, it
builds a stub with that library's soname, exporting every symbol torch imports from it (with the
same symbol versions), each a function returning 100 (cudaErrorNoDevice / CUDA_ERROR_NO_DEVICE).
torch then imports, `torch.cuda.is_available()` is False, and no stub is ever called for CPU work.

Usage: python torch_cuda_stubs.py <site-packages>/torch/lib   (needs nm, readelf and cc)
"""

import os
import re
import subprocess
import sys
import tempfile

SYSTEM_LIBS = [
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "librt.so.1",
    "libpthread.so.0",
    "libgcc_s.so.1",
    "libstdc++.so.6",
    "ld-linux-x86-64.so.2",
]


def run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def needed(path: str) -> list[str]:
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", run("readelf", "-d", path))


def version_files(path: str) -> dict[str, str]:
    """Version name -> the file (soname) that must define it, from .gnu.version_r."""
    out, current = {}, None
    for line in run("readelf", "-V", "--wide", path).splitlines():
        m = re.search(r"File: (\S+)", line)
        if m:
            current = m.group(1)
            continue
        m = re.search(r"Name: (\S+)\s+Flags", line)
        if m and current:
            out[m.group(1)] = current
    return out


def system_path(soname: str) -> str | None:
    for line in run("ldconfig", "-p").splitlines():
        parts = line.strip().split(" => ")
        if len(parts) == 2 and parts[0].split()[0] == soname and "x86-64" in parts[0]:
            return parts[1]
    return None


def defined(path: str) -> set[str]:
    names = set()
    for line in run("nm", "-D", "--defined-only", path).splitlines():
        parts = line.split()
        if len(parts) == 3:
            names.add(parts[2].split("@")[0])
    return names


def main(lib_dir: str) -> None:
    torch_dir = os.path.dirname(lib_dir)
    libs = [os.path.join(lib_dir, f) for f in os.listdir(lib_dir) if ".so" in f]
    libs += [os.path.join(torch_dir, f) for f in os.listdir(torch_dir) if f.endswith(".so")]
    libs = [p for p in libs if os.path.isfile(p) and not os.path.islink(p)]
    present = {os.path.basename(p) for p in libs}
    missing = sorted(
        {n for p in libs for n in needed(p)} - present - {n for n in SYSTEM_LIBS if system_path(n)}
    )
    missing = [n for n in missing if system_path(n) is None]
    if not missing:
        print("torch_cuda_stubs: nothing missing")
        return

    provided = set()
    for p in libs:
        provided |= defined(p)
    for n in SYSTEM_LIBS:
        if (path := system_path(n)) is not None:
            provided |= defined(path)

    # soname -> version -> symbols; unversioned unresolved symbols go into every stub.
    versioned: dict[str, dict[str, set[str]]] = {n: {} for n in missing}
    unversioned: set[str] = set()
    for p in libs:
        vfiles = version_files(p)
        for line in run("nm", "-D", "--undefined-only", p).splitlines():
            parts = line.split()
            if len(parts) != 2 or parts[0] != "U":
                continue  # weak references need no definition
            name, _, version = parts[1].partition("@")
            if version:
                owner = vfiles.get(version)
                if owner in versioned:
                    versioned[owner].setdefault(version, set()).add(name)
            elif name not in provided:
                unversioned.add(name)

    with tempfile.TemporaryDirectory() as tmp:
        for soname in missing:
            symbols = set(unversioned)
            for names in versioned[soname].values():
                symbols |= names
            src = os.path.join(tmp, "stub.c")
            with open(src, "w") as f:
                for s in sorted(symbols):
                    f.write(f'int {s}(void) {{ return 100; }}\n' if s.isidentifier() else "")
            script = os.path.join(tmp, "stub.map")
            with open(script, "w") as f:
                for version, names in sorted(versioned[soname].items()):
                    body = "".join(f" {n};" for n in sorted(names) if n.isidentifier())
                    f.write(f"{version} {{ global:{body} }};\n")
            args = ["cc", "-shared", "-fPIC", "-o", os.path.join(lib_dir, soname), src,
                    f"-Wl,-soname,{soname}"]
            if versioned[soname]:
                args.append(f"-Wl,--version-script={script}")
            subprocess.run(args, check=True)
            print(f"torch_cuda_stubs: {soname} ({len(symbols)} symbols)")


if __name__ == "__main__":
    main(sys.argv[1])
