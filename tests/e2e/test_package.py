# SPDX-License-Identifier: MIT
"""The Debian package and what it installs (issue 14).

One package build per session (the module fixture `package`), in a copy of
the tree under a temporary directory, so the repository's parent is not
littered with .deb/.changes files. The package is then unpacked into a
throwaway root (`dpkg -x`), and everything is checked there: lintian, the
file list, `postern --version` against debian/changelog (the one place the
version lives), `systemd-analyze verify` on every unit, the man pages'
completeness (every flag of every subcommand's --help, every setting and
flag of `postern settings`) and warning-free rendering, the examples
(`postern check`), `make install` and the bash completion.
"""

import gzip
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import REPO, run

BUILD_TIMEOUT = 900
VERSION = re.match(r"^postern \(([^)]+)\)", (REPO / "debian" / "changelog").read_text()).group(1)

EXPECTED_FILES = [
    "usr/bin/postern",
    "usr/share/man/man1/postern.1.gz",
    "usr/share/man/man5/postern.conf.5.gz",
    "lib/systemd/system/postern-server.service",
    "lib/systemd/system/postern-client@.service",
    "usr/share/bash-completion/completions/postern",
    "etc/postern/server.conf",
    "etc/postern/client.conf",
    "usr/share/doc/postern/copyright",
    "usr/share/doc/postern/examples/gateway.conf",
    "usr/share/doc/postern/examples/laptop.conf",
    "usr/share/doc/postern/examples/exec-wrapper.sh",
]


def tree_files():
    """The repository's files as git sees them (tracked and new, not ignored)."""
    r = run(["git", "-C", REPO, "ls-files", "-co", "--exclude-standard", "-z"])
    assert r.returncode == 0, r.stderr
    return [f for f in r.stdout.split("\0") if f and (REPO / f).is_file()]


@pytest.fixture(scope="module")
def package():
    """Build the package once: {"tmp", "src", "deb", "changes", "root"}."""
    for tool in ("dpkg-buildpackage", "lintian", "scdoc", "systemd-analyze", "man", "groff"):
        assert shutil.which(tool), f"{tool} missing: run scripts/setup-debian.sh"
    tmp = Path(tempfile.mkdtemp(prefix="postern-deb-"))
    try:
        src = tmp / "postern"
        for f in tree_files():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, src / f)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
        r = subprocess.run(["make", "deb"], cwd=src, env=env, capture_output=True, text=True,
                           errors="replace", timeout=BUILD_TIMEOUT)
        assert r.returncode == 0, f"make deb failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
        arch = run(["dpkg", "--print-architecture"]).stdout.strip()
        deb = tmp / f"postern_{VERSION}_{arch}.deb"
        assert deb.is_file(), f"no {deb.name}: {sorted(p.name for p in tmp.iterdir())}"
        root = tmp / "root"
        r = run(["dpkg", "-x", deb, root])
        assert r.returncode == 0, r.stderr
        yield {"tmp": tmp, "src": src, "deb": deb, "changes": deb.with_suffix(".changes"),
               "root": root}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_lintian_has_no_errors(package):
    r = run(["lintian", "--fail-on", "error", package["changes"]], timeout=300)
    errors = [line for line in r.stdout.splitlines() if line.startswith("E:")]
    assert not errors and r.returncode == 0, r.stdout + r.stderr


def test_package_lists_the_expected_files(package):
    r = run(["dpkg-deb", "-c", package["deb"]])
    assert r.returncode == 0, r.stderr
    listed = {line.split()[-1].lstrip(".").lstrip("/") for line in r.stdout.splitlines()}
    missing = [f for f in EXPECTED_FILES if f not in listed]
    assert not missing, f"not in the package: {missing}\n{r.stdout}"
    # The /etc files are conffiles (an upgrade keeps the administrator's edits).
    r = run(["dpkg-deb", "-I", package["deb"], "conffiles"])
    assert r.returncode == 0, r.stderr
    assert set(r.stdout.split()) >= {"/etc/postern/server.conf", "/etc/postern/client.conf"}
    # The maintainer script creates the user and the state directory.
    r = run(["dpkg-deb", "-I", package["deb"], "postinst"])
    assert "adduser --system --group" in r.stdout and "/var/lib/postern" in r.stdout, r.stdout
    r = run(["dpkg-deb", "-f", package["deb"], "Version", "Depends"])
    assert f"Version: {VERSION}" in r.stdout and "libuv1" in r.stdout, r.stdout


def test_installed_binary_prints_the_changelog_version(package):
    binary = package["root"] / "usr/bin/postern"
    r = run([binary, "--version"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"postern {VERSION}"
    # The man pages carry the same version.
    for page in ("man1/postern.1.gz", "man5/postern.conf.5.gz"):
        text = gzip.decompress((package["root"] / "usr/share/man" / page).read_bytes()).decode()
        assert f"postern {VERSION}" in text, page


def test_units_verify(package, tmp_path):
    """systemd-analyze verify on every unit, each pointed at the unpacked binary
    (and its man pages, for Documentation=)."""
    root = package["root"]
    units = sorted((root / "lib/systemd/system").glob("*.service"))
    assert {u.name for u in units} == {"postern-server.service", "postern-client@.service"}
    for unit in units:
        text = unit.read_text()
        assert "ExecStart=/usr/bin/postern" in text and "Type=notify" in text, unit.name
        for want in ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
                     "PrivateTmp=yes", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
                     "AmbientCapabilities=CAP_NET_BIND_SERVICE", "RestrictAddressFamilies=",
                     "SystemCallFilter=@system-service", "RuntimeDirectory=",
                     "ExecReload=/bin/kill -HUP $MAINPID"):
            assert want in text, f"{unit.name}: no {want}"
        (tmp_path / unit.name).write_text(text.replace("/usr/bin/postern", str(root / "usr/bin/postern")))
    assert "StateDirectory=postern" in (root / "lib/systemd/system/postern-server.service").read_text()
    env = dict(os.environ, MANPATH=str(root / "usr/share/man"), SYSTEMD_LOG_LEVEL="notice")
    r = run(["systemd-analyze", "verify"] + [tmp_path / u.name for u in units], env=env, timeout=60)
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr


# --------------------------------------------------------------------------
# man pages


def render(page):
    """A built page as plain text, one paragraph per line (no hyphenation)."""
    r = subprocess.run(["groff", "-man", "-Tascii", "-P-cbou", "-rLL=4000n", "-rHY=0", "-ww"],
                       input=page, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    return r.stdout


def help_flags(binary, cmd):
    """Every -x and --long flag on the usage and option lines of `postern CMD --help`."""
    r = run([binary, cmd, "--help"])
    # A few commands print their usage to stderr (exit 2) for --help too.
    text = r.stdout + r.stderr
    assert r.returncode in (0, 2) and text.startswith("usage:"), f"{cmd} --help: {r.returncode} {text}"
    flags = set()
    for line in text.splitlines():
        if not re.match(r"^(usage:| +postern |  -|      -)", line):
            continue
        for m in re.finditer(r"(?:^|[ ,|\[])(--?(?:\[no-\])?[a-zA-Z][a-zA-Z0-9-]*)", line):
            flag = m.group(1)
            if flag.startswith("--[no-]"):
                flags |= {"--" + flag[7:], "--no-" + flag[7:]}
            else:
                flags.add(flag)
    return flags


def table_entries(binary):
    """(key, [flags]) for every row of `postern settings`."""
    r = run([binary, "settings"])
    assert r.returncode == 0, r.stderr
    out = []
    for line in r.stdout.splitlines():
        cols = line.split("\t")
        assert len(cols) == 7, f"postern settings: odd line {line!r}"
        # (--no-F forms are on the --help option lines, which help_flags() reads.)
        flags = [] if cols[2] == "-" else [f.strip() for f in cols[2].split(",")]
        out.append((cols[1], flags))
    return out


def subcommands(binary):
    r = run([binary, "--help"])
    return re.findall(r"^  ([a-z]+) ", r.stdout, re.M)


def missing_from_pages(binary, man1, man5):
    """What the code has and the pages lack: ["postern(1): --flag", ...]."""
    missing = []
    words1 = set(re.findall(r"-?-?[A-Za-z0-9][A-Za-z0-9_-]*", man1))
    words5 = set(re.findall(r"-?-?[A-Za-z0-9][A-Za-z0-9_-]*", man5))
    for cmd in subcommands(binary):
        if cmd not in words1:
            missing.append(f"postern(1): subcommand {cmd}")
        for flag in sorted(help_flags(binary, cmd)):
            if flag not in words1:
                missing.append(f"postern(1): {cmd} {flag}")
    for key, flags in table_entries(binary):
        if key not in words5:
            missing.append(f"postern.conf(5): setting {key}")
        for flag in flags:
            if flag not in words5:
                missing.append(f"postern.conf(5): {key} {flag}")
            if flag not in words1:
                missing.append(f"postern(1): {key} {flag}")
    return missing


def test_man_pages_name_every_flag_and_setting(package):
    root = package["root"]
    binary = root / "usr/bin/postern"
    man = root / "usr/share/man"
    man1 = render(gzip.decompress((man / "man1/postern.1.gz").read_bytes()).decode())
    man5 = render(gzip.decompress((man / "man5/postern.conf.5.gz").read_bytes()).decode())
    missing = missing_from_pages(binary, man1, man5)
    assert not missing, "in the code but not in the man pages:\n" + "\n".join(missing)
    # The check is not vacuous: a page without a flag or a setting fails it.
    assert any("--keepalive" in m for m in missing_from_pages(binary, man1.replace("--keepalive", "x"), man5))
    assert any("setting dh_rate" in m for m in missing_from_pages(binary, man1, man5.replace("dh_rate", "x")))
    assert len(table_entries(binary)) > 50 and len(help_flags(binary, "client")) > 30


def render_page(path):
    """groff's text for a page given as a file (not its text): run() passes argv."""
    return run(["groff", "-man", "-ww", "-z", path])


def test_man_pages_render_without_warnings(package, tmp_path):
    for page in ("man1/postern.1.gz", "man5/postern.conf.5.gz"):
        path = package["root"] / "usr/share/man" / page
        env = dict(os.environ, MANWIDTH="80", LANG="C.UTF-8")
        r = subprocess.run(["man", "--warnings", "-l", str(path)], env=env, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0 and not r.stderr.strip(), f"{page}: {r.stderr}"
        assert len(r.stdout.splitlines()) > 50, f"{page} rendered to almost nothing"
        plain = tmp_path / Path(page).stem
        plain.write_bytes(gzip.decompress(path.read_bytes()))
        r = render_page(plain)
        assert r.returncode == 0 and not r.stderr.strip(), f"{page}: {r.stderr}"


# --------------------------------------------------------------------------
# examples, make install, completion


def make_example_keys(binary, conf):
    """Create the key files ${conf} names, of the kind each needs."""
    section, sections = None, {}
    for line in conf.read_text().splitlines():
        line = line.split(";")[0].strip()
        if line.startswith("["):
            section = line
            sections[section] = []
        elif "=" in line and section:
            k, v = (s.strip() for s in line.split("=", 1))
            sections[section].append((k, v))
    for settings in sections.values():
        keys = dict(settings)
        for k, v in settings:
            if k not in ("key_file", "host_key"):
                continue
            path = conf.parent / v
            if path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            kind = "x25519" if k == "host_key" or "server_key" in keys else "psk"
            r = run([binary, "keygen", "-t", kind, "-o", path])
            assert r.returncode == 0, r.stderr
    return [name[len("[profile "):-1].strip() for name in sections if name.startswith("[profile ")]


def test_every_example_passes_check(postern_bin, tmp_path):
    files = sorted((REPO / "examples").iterdir())
    assert {f.name for f in files} >= {"gateway.conf", "laptop.conf", "exec-wrapper.sh"}
    checked = []
    for f in files:
        dst = tmp_path / f.name
        shutil.copy2(f, dst)
        if f.suffix == ".sh":
            r = run(["bash", "-n", dst])
            assert r.returncode == 0, f"{f.name}: {r.stderr}"
            assert "postern exec" in f.read_text(), f"{f.name} does not wrap postern exec"
        elif f.suffix == ".conf":
            profiles = make_example_keys(postern_bin, dst)
            if profiles:
                for p in profiles:
                    r = run([postern_bin, "check", "client", "-c", dst, p])
                    assert r.returncode == 0, f"{f.name} [profile {p}]: {r.stdout}{r.stderr}"
            else:
                r = run([postern_bin, "check", "-c", dst])
                assert r.returncode == 0, f"{f.name}: {r.stdout}{r.stderr}"
                assert re.search(r"ok: [2-9]\d* key\(s\)", r.stdout), f"{f.name}: one identity only"
        else:
            pytest.fail(f"examples/{f.name}: no check for this kind of file")
        checked.append(f.name)
    assert len(checked) == len(files)


def test_make_install_puts_the_same_files(package, tmp_path):
    dest = tmp_path / "stage"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    r = subprocess.run(["make", "BUILD=build-deb", "install", "PREFIX=/usr/local", f"DESTDIR={dest}"],
                       cwd=package["src"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for f in ("usr/local/bin/postern", "usr/local/share/man/man1/postern.1",
              "usr/local/share/man/man5/postern.conf.5",
              "usr/local/share/bash-completion/completions/postern",
              "usr/local/lib/systemd/system/postern-server.service",
              "usr/local/lib/systemd/system/postern-client@.service",
              "usr/local/share/doc/postern/examples/gateway.conf",
              "usr/local/etc/postern/server.conf"):
        assert (dest / f).is_file(), f"make install did not install {f}"
    unit = (dest / "usr/local/lib/systemd/system/postern-server.service").read_text()
    assert "ExecStart=/usr/local/bin/postern server -c /usr/local/etc/postern/server.conf" in unit


def complete(root, words, tmp_path):
    """The completions bash offers for ${words} (the last one, maybe "", being completed)."""
    line = " ".join(words)
    script = f"""
source /usr/share/bash-completion/bash_completion
source {shlex.quote(str(root))}/usr/share/bash-completion/completions/postern
cd {shlex.quote(str(tmp_path))}
COMP_WORDS=({" ".join(shlex.quote(w) for w in words)})
COMP_CWORD={len(words) - 1}
COMP_LINE={shlex.quote(line)}
COMP_POINT=${{#COMP_LINE}}
_postern
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    env = dict(os.environ, PATH=f"{root}/usr/bin:" + os.environ["PATH"])
    r = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


def test_bash_completion(package, tmp_path):
    assert Path("/usr/share/bash-completion/bash_completion").is_file(), \
        "bash-completion missing: run scripts/setup-debian.sh"
    root = package["root"]
    assert {"server", "client", "exec", "keygen", "settings"} <= complete(root, ["postern", ""], tmp_path)
    assert {"--keepalive", "--local", "--no-exit-on-forward-failure"} <= complete(
        root, ["postern", "client", "--"], tmp_path)
    assert "--permit-open" in complete(root, ["postern", "server", "--per"], tmp_path)
    (tmp_path / "c.conf").write_text("[profile office]\nserver = a:1\n[profile lab]\nserver = b:1\n")
    assert complete(root, ["postern", "client", "-c", "c.conf", ""], tmp_path) >= {"office", "lab"}
    (tmp_path / "alice.key").write_text("x")
    assert "alice.key" in complete(root, ["postern", "client", "-k", "al"], tmp_path)


def test_exec_wrapper_runs_a_command_through_a_tunnel(pg, echo_server, tmp_path):
    """examples/exec-wrapper.sh as a user runs it: postern on PATH, a profile
    from POSTERN_CONFIG, and the command reaching the echo through the tunnel."""
    key = pg.keygen()
    srv = pg.start_server(key=key)
    conf = tmp_path / "client.conf"
    conf.write_text(f"[profile db]\nserver = {srv.host}:{srv.port}\nkey_file = {key}\n"
                    f"local_forward = 0:{echo_server.addr[0]}:{echo_server.addr[1]}\n")
    probe = ("import os, socket; s = socket.create_connection(('127.0.0.1', "
             "int(os.environ['POSTERN_PORT'])), 10); s.sendall(b'ping'); "
             "print(s.recv(16).decode())")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "postern").symlink_to(pg.bin)
    env = dict(os.environ, POSTERN_CONFIG=str(conf), PATH=f"{bindir}:" + os.environ["PATH"])
    r = run(["sh", REPO / "examples/exec-wrapper.sh", "/usr/bin/python3", "-c", probe], env=env,
            timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ping", r.stdout + r.stderr
