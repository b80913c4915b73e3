#!/usr/bin/env python3
"""Checks the deployment files under deploy/ without Docker, systemd or a cluster.

Usage: check_deploy.py REPO_ROOT BUCKETFS_BINARY (run by check_deploy.sh).

  Dockerfile   parses (instructions, continuations, JSON forms, stages); every COPY/ADD source
               exists in the repository and is not excluded by .dockerignore; the runtime stage
               installs the Debian package of every shared library the binary links; the state and
               cache directories lie on VOLUMEs; the final USER is not root.
  systemd      `systemd-analyze verify` (and `security --offline`) where it runs, else a check of
               sections and keys.
  Kubernetes   every manifest parses and has apiVersion, kind, metadata.name and no namespace;
               references hold (volumes, claims, PV, service account, Service selector and ports,
               probe ports, kustomization resources); no pod is privileged or gets more than
               NET_BIND_SERVICE; the PersistentVolume's nfs path is an export of the gateway.
  flags        every `bucketfs serve` command line (Dockerfile ENTRYPOINT, unit ExecStart with its
               EnvironmentFile example, StatefulSet command+args) uses only flags that
               `bucketfs serve --help` lists, none twice; then each one is started for real, with
               addresses and directories moved to loopback and a temporary directory, --local-dir
               standing in for S3, answers `bucketfs status` and stops cleanly on SIGTERM.
"""
import fnmatch
import glob
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

REPO, BUCKETFS = sys.argv[1], os.path.abspath(sys.argv[2])
failures = []


def check(ok, what, quiet=False):
    """Records a failure; prints every check, or only a failed one when quiet."""
    if not ok or not quiet:
        print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)
    return ok


def rel(path):
    return os.path.relpath(path, REPO)


# ---------------------------------------------------------------------------------------------
# Dockerfile
DOCKER_INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
    "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "MAINTAINER",
}


def parse_dockerfile(path):
    """Returns [(line_number, INSTRUCTION, arguments)] with continuations joined."""
    lines = open(path).read().split("\n")
    escape = "\\"
    # Parser directives: only at the very top, before any comment that is not one.
    for line in lines:
        m = re.match(r"#\s*(\w+)\s*=\s*(\S+)\s*$", line)
        if not m:
            break
        if m.group(1).lower() == "escape":
            escape = m.group(2)
    out, buf, start = [], "", 0
    for n, line in enumerate(lines, 1):
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):  # comments inside a continuation are dropped
            continue
        if not buf:
            start = n
        if stripped.endswith(escape):
            buf += stripped[: -len(escape)] + " "
            continue
        buf += stripped
        word, _, args = buf.partition(" ")
        out.append((start, word.upper(), args.strip()))
        if word != word.upper():
            check(False, f"Dockerfile:{start}: instruction '{word}' is not upper case")
        buf = ""
    check(not buf, "Dockerfile: no continuation line left open at the end")
    return out


def json_form(args):
    if not args.startswith("["):
        return None
    try:
        value = json.loads(args)
    except ValueError:
        return False
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else False


def dockerignore_patterns():
    path = os.path.join(REPO, ".dockerignore")
    if not os.path.exists(path):
        return []
    pats = []
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#"):
            pats.append(line)
    return pats


def ignored(relpath, patterns):
    """Docker's rule: the last matching pattern wins; a pattern matching a parent excludes it."""
    parts = relpath.strip("/").split("/")
    result = False
    for pat in patterns:
        negate = pat.startswith("!")
        p = pat[1:] if negate else pat
        p = p.strip("/")
        regex = fnmatch.translate(p).replace(".*.*/", "(.*/)?")  # "**/" matches no directory too
        for i in range(1, len(parts) + 1):
            if re.match(regex, "/".join(parts[:i])):
                result = not negate
                break
    return result


def check_dockerfile():
    path = os.path.join(REPO, "deploy", "Dockerfile")
    if not check(os.path.exists(path), "deploy/Dockerfile exists"):
        return None
    instrs = parse_dockerfile(path)
    for n, word, _ in instrs:
        check(word in DOCKER_INSTRUCTIONS, f"Dockerfile:{n}: {word} is a Dockerfile instruction",
              quiet=True)
    first = next((w for _, w, _ in instrs if w != "ARG"), None)
    check(first == "FROM", "Dockerfile: the first instruction after global ARGs is FROM")

    patterns = dockerignore_patterns()
    check(bool(patterns), ".dockerignore exists at the repository root and excludes something")
    check(ignored("build/debug", patterns) and ignored(".git", patterns),
          ".dockerignore excludes build/ and .git")

    stages, final = [], None
    for n, word, args in instrs:
        if word == "FROM":
            toks = [t for t in args.split() if not t.startswith("--platform=")]
            if not check(len(toks) in (1, 3) and (len(toks) == 1 or toks[1].upper() == "AS"),
                         f"Dockerfile:{n}: FROM IMAGE [AS NAME]"):
                continue
            final = {"name": toks[2] if len(toks) == 3 else None, "line": n, "instrs": []}
            stages.append(final)
            continue
        if final is None:
            continue
        final["instrs"].append((n, word, args))
        if word in ("COPY", "ADD"):
            toks = json_form(args)
            if toks is False:
                check(False, f"Dockerfile:{n}: {word} JSON form parses")
                continue
            toks = toks if toks is not None else shlex.split(args)
            flags = [t for t in toks if t.startswith("--")]
            paths = [t for t in toks if not t.startswith("--")]
            if not check(len(paths) >= 2, f"Dockerfile:{n}: {word} has a source and a destination"):
                continue
            src_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
            if src_stage is not None:
                names = [s["name"] for s in stages[:-1]]
                check(src_stage in names or (src_stage.isdigit() and int(src_stage) < len(names)),
                      f"Dockerfile:{n}: {word} --from={src_stage} names an earlier stage")
                continue
            for src in paths[:-1]:
                if re.match(r"^[a-z]+://", src):
                    continue
                matches = glob.glob(os.path.join(REPO, src))
                check(bool(matches), f"Dockerfile:{n}: {word} source '{src}' exists in the repo")
                check(not ignored(src, patterns),
                      f"Dockerfile:{n}: {word} source '{src}' is not excluded by .dockerignore")
        elif word in ("CMD", "ENTRYPOINT", "RUN", "VOLUME", "SHELL"):
            check(json_form(args) is not False, f"Dockerfile:{n}: {word} JSON form parses")
        elif word == "HEALTHCHECK":
            m = re.match(r"((?:--[a-z-]+=\S+\s+)*)(CMD\s+(.*)|NONE)$", args)
            ok = m is not None and all(
                f.split("=")[0] in ("--interval", "--timeout", "--start-period", "--retries",
                                    "--start-interval") for f in m.group(1).split())
            check(ok and (m.group(3) is None or json_form(m.group(3)) is not False),
                  f"Dockerfile:{n}: HEALTHCHECK [OPTIONS] CMD ... | NONE")
    if not check(final is not None, "Dockerfile: has a stage"):
        return None

    # The runtime stage.
    def last(word):
        found = [a for _, w, a in final["instrs"] if w == word]
        return found[-1] if found else None

    user = last("USER")
    check(user is not None and user.split(":")[0] not in ("root", "0"),
          f"Dockerfile: the runtime stage runs as a non-root USER ({user})")
    exposed = " ".join(a for _, w, a in final["instrs"] if w == "EXPOSE").split()
    check("2049/tcp" in exposed or "2049" in exposed, "Dockerfile: EXPOSE 2049")
    volumes = []
    for _, w, a in final["instrs"]:
        if w == "VOLUME":
            volumes += json_form(a) or a.split()
    env = {}
    for _, w, a in final["instrs"]:
        if w == "ENV":
            for tok in shlex.split(a):
                k, _, v = tok.partition("=")
                env[k] = v
    entry = json_form(last("ENTRYPOINT") or "") or []
    cmd = json_form(last("CMD") or "") or []
    argv = entry + cmd
    check(argv[:2] == ["bucketfs", "serve"], "Dockerfile: ENTRYPOINT runs `bucketfs serve`")
    opts = flag_values(argv)
    for flag in ("--state-dir", "--cache-dir"):
        d = opts.get(flag) or ""
        check(any(d.startswith(v.rstrip("/") + "/") or d == v for v in volumes),
              f"Dockerfile: {flag} {d} is on a VOLUME ({' '.join(volumes)})")
    check(env.get("BUCKETFS_STATE_DIR") == opts.get("--state-dir"),
          "Dockerfile: ENV BUCKETFS_STATE_DIR is --state-dir (for `bucketfs status`)")
    check_runtime_packages(final["instrs"])
    return argv


def check_runtime_packages(instrs):
    """Every shared library the binary links comes from a package the runtime stage installs."""
    installed = set()
    for _, w, a in instrs:
        if w != "RUN":
            continue
        for m in re.finditer(r"apt-get\s+install\s+([^&;|]*)", a):
            installed |= {t for t in m.group(1).split() if not t.startswith("-")}
    if not shutil.which("ldd") or not shutil.which("dpkg"):
        print("skip runtime packages: no ldd or dpkg here")
        return
    out = subprocess.run(["ldd", BUCKETFS], capture_output=True, text=True).stdout
    libs = re.findall(r"=>\s+(/\S+)", out)
    base = {"libc6"}  # in every Debian image
    sanitizers = re.compile(r"^lib(asan|ubsan|lsan|tsan|hwasan)\d*$")
    if any(re.match(r"lib(asan|ubsan|lsan|tsan|hwasan)", os.path.basename(l)) for l in libs):
        # A sanitizer build links more (its runtimes, and Boost.System here) than the release
        # build the image ships: its link set says nothing about the runtime stage.
        print("skip runtime packages: a sanitizer build, not what the image ships")
        return
    for lib in libs:
        owner = None
        for candidate in (lib, os.path.realpath(lib)):
            r = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if r.returncode == 0:
                owner = r.stdout.split(":")[0]
                break
        if owner is None:
            check(False, f"Dockerfile: the Debian package of {lib} is known (dpkg -S)")
            continue
        if owner in base or sanitizers.match(owner):
            continue
        check(owner in installed,
              f"Dockerfile: the runtime stage installs {owner} (for {os.path.basename(lib)})")


# ---------------------------------------------------------------------------------------------
# systemd
SYSTEMD_KEYS = {
    "Unit": {"Description", "Documentation", "Wants", "Requires", "After", "Before",
             "StartLimitIntervalSec", "StartLimitBurst", "ConditionPathExists"},
    "Service": {"Type", "EnvironmentFile", "Environment", "ExecStart", "ExecStartPre", "ExecReload",
                "KillSignal", "KillMode", "TimeoutStopSec", "TimeoutStartSec", "Restart",
                "RestartSec", "DynamicUser", "User", "Group", "StateDirectory",
                "StateDirectoryMode", "CacheDirectory", "CacheDirectoryMode",
                "AmbientCapabilities", "CapabilityBoundingSet", "NoNewPrivileges", "LimitNOFILE",
                "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices",
                "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
                "ProtectControlGroups", "ProtectClock", "ProtectHostname", "ProtectProc",
                "ProcSubset", "RestrictAddressFamilies", "RestrictNamespaces", "RestrictRealtime",
                "RestrictSUIDSGID", "LockPersonality", "MemoryDenyWriteExecute", "RemoveIPC",
                "SystemCallArchitectures", "SystemCallFilter", "SystemCallErrorNumber", "UMask"},
    "Install": {"WantedBy", "RequiredBy", "Alias"},
}


def parse_unit(path):
    """Returns {section: [(key, value)]} with continuations joined, checking the syntax."""
    sections, current, buf = {}, None, ""
    for n, line in enumerate(open(path), 1):
        line = line.rstrip("\n")
        if not buf and (not line.strip() or line.lstrip().startswith(("#", ";"))):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        line, buf = buf + line, ""
        m = re.match(r"^\[(\w+)\]$", line.strip())
        if m:
            current = sections.setdefault(m.group(1), [])
            continue
        key, sep, value = line.partition("=")
        if not check(sep == "=" and current is not None,
                     f"{rel(path)}:{n}: KEY=VALUE inside a [Section]", quiet=True):
            continue
        current.append((key.strip(), value.strip()))
    return sections


def env_file(path):
    env = {}
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            env[k.strip()] = v.strip()
    return env


def check_systemd(tmp):
    unit = os.path.join(REPO, "deploy", "systemd", "bucketfs.service")
    example = os.path.join(REPO, "deploy", "systemd", "bucketfs.env.example")
    if not check(os.path.exists(unit) and os.path.exists(example),
                 "deploy/systemd/bucketfs.service and bucketfs.env.example exist"):
        return None
    sections = parse_unit(unit)
    service = dict(sections.get("Service", []))
    text = open(unit).read()
    # A copy that systemd-analyze can verify here: the binary under test, the example env file.
    copy = os.path.join(tmp, "bucketfs.service")
    exec_path = shlex.split(service.get("ExecStart", "x"))[0]
    with open(copy, "w") as f:
        f.write(text.replace(exec_path, BUCKETFS).replace(
            "EnvironmentFile=" + service.get("EnvironmentFile", ""), "EnvironmentFile=" + example))
    analyze = shutil.which("systemd-analyze")
    verified = False
    if analyze:
        r = subprocess.run([analyze, "verify", "--man=no", copy], capture_output=True, text=True)
        output = (r.stdout + r.stderr).strip()
        broken = "Failed to" in output and "bucketfs.service" not in output
        if not broken:
            check(r.returncode == 0 and "bucketfs.service" not in output,
                  "systemd-analyze verify bucketfs.service: no error or warning" +
                  (f"\n{output}" if output else ""))
            verified = True
            r = subprocess.run([analyze, "security", "--offline=yes", "--threshold=30", copy],
                               capture_output=True, text=True)
            if "--offline" in r.stderr or "unrecognized" in r.stderr:
                print("skip systemd-analyze security --offline: not supported by this systemd")
            else:
                line = [x for x in r.stdout.splitlines() if "exposure level" in x]
                check(r.returncode == 0,
                      "systemd-analyze security --offline: exposure at most 3.0: " +
                      (line[-1].strip() if line else r.stderr.strip()))
        else:
            print("systemd-analyze cannot run here:", output.splitlines()[0])
    if not verified:
        for name, entries in sections.items():
            check(name in SYSTEMD_KEYS, f"bucketfs.service: [{name}] is a known section")
            for key, _ in entries:
                check(key in SYSTEMD_KEYS.get(name, ()), f"bucketfs.service: {name}.{key} known")
    for key in ("ExecStart", "DynamicUser", "StateDirectory", "CacheDirectory",
                "AmbientCapabilities", "ProtectSystem", "KillSignal", "TimeoutStopSec", "Restart",
                "EnvironmentFile"):
        check(key in service, f"bucketfs.service: sets {key}")
    # ExecStart as systemd runs it: ${VAR} replaced, a lone $VAR split on white space.
    env = env_file(example)
    argv = []
    for word in shlex.split(service.get("ExecStart", "")):
        m = re.fullmatch(r"\$(\w+)", word)
        if m:
            argv += env.get(m.group(1), "").split()
        else:
            argv.append(re.sub(r"\$\{(\w+)\}", lambda mm: env.get(mm.group(1), ""), word))
    argv[0] = os.path.basename(argv[0])
    opts = flag_values(argv)
    for flag, directory in (("--state-dir", "StateDirectory"), ("--cache-dir", "CacheDirectory")):
        want = {"StateDirectory": "/var/lib/", "CacheDirectory": "/var/cache/"}[directory]
        check(opts.get(flag) == want + service.get(directory, "?"),
              f"bucketfs.service: {flag} is the unit's {directory}")
    return argv


# ---------------------------------------------------------------------------------------------
# Kubernetes
def pod_specs(obj):
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return (spec.get("template") or {}).get("spec")
    return None


def check_kubernetes():
    try:
        import yaml
    except ImportError:
        check(False, "python3 can import yaml (Debian: apt-get install python3-yaml)")
        return []
    files = sorted(glob.glob(os.path.join(REPO, "deploy", "kubernetes", "*.y*ml")))
    check(bool(files), "deploy/kubernetes has manifests")
    objs = []
    for f in files:
        try:
            docs = [d for d in yaml.safe_load_all(open(f)) if d is not None]
        except yaml.YAMLError as e:
            check(False, f"{rel(f)} parses as YAML: {e}")
            continue
        check(True, f"{rel(f)} parses as YAML ({len(docs)} objects)")
        for d in docs:
            ok = (isinstance(d, dict) and isinstance(d.get("apiVersion"), str) and
                  isinstance(d.get("kind"), str) and
                  isinstance((d.get("metadata") or {}).get("name"), str))
            if check(ok, f"{rel(f)}: {d.get('kind') if isinstance(d, dict) else d} has apiVersion, "
                         "kind, metadata.name"):
                check("namespace" not in d["metadata"],
                      f"{rel(f)}: {d['kind']}/{d['metadata']['name']} names no namespace")
                d["_file"] = rel(f)
                objs.append(d)
    by_kind = {}
    for o in objs:
        by_kind.setdefault(o["kind"], {})[o["metadata"]["name"]] = o

    for o in objs:
        where = f"{o['_file']}: {o['kind']}/{o['metadata']['name']}"
        if o["kind"] == "Kustomization":
            for r in o.get("resources", []):
                check(os.path.exists(os.path.join(REPO, "deploy", "kubernetes", r)),
                      f"{where}: resource {r} exists")
        spec = pod_specs(o)
        if spec is None:
            continue
        sel = ((o.get("spec") or {}).get("selector") or {}).get("matchLabels")
        labels = (((o.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")
        if o["kind"] != "Pod":
            check(bool(sel) and all((labels or {}).get(k) == v for k, v in sel.items()),
                  f"{where}: selector matches the pod template's labels")
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            check(not spec.get(key), f"{where}: no {key}")
        sa = spec.get("serviceAccountName")
        if sa:
            check(sa in by_kind.get("ServiceAccount", {}), f"{where}: ServiceAccount {sa} defined")
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for t in (o.get("spec") or {}).get("volumeClaimTemplates", []):
            volumes[t["metadata"]["name"]] = {"claimTemplate": t}
        for v in volumes.values():
            check("hostPath" not in v, f"{where}: volume {v.get('name')} is not a hostPath")
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                check(claim in by_kind.get("PersistentVolumeClaim", {}),
                      f"{where}: claim {claim} defined")
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            cw = f"{where} container {c.get('name')}"
            check(bool(c.get("name")) and bool(c.get("image")), f"{cw}: has a name and an image")
            sc = c.get("securityContext") or {}
            check(sc.get("privileged") is not True, f"{cw}: not privileged")
            check(sc.get("allowPrivilegeEscalation") is False, f"{cw}: allowPrivilegeEscalation false")
            added = set((sc.get("capabilities") or {}).get("add", []))
            check(added <= {"NET_BIND_SERVICE"}, f"{cw}: adds no capability but NET_BIND_SERVICE")
            ports = {p.get("name") for p in c.get("ports", [])}
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                p = c.get(probe) or {}
                port = (p.get("tcpSocket") or p.get("httpGet") or {}).get("port")
                if isinstance(port, str):
                    check(port in ports, f"{cw}: {probe} port {port} is a container port")
            mounts = c.get("volumeMounts", [])
            for m in mounts:
                check(m.get("name") in volumes, f"{cw}: volumeMount {m.get('name')} has a volume")
            argv = (c.get("command") or []) + (c.get("args") or [])
            if argv[:2] == ["bucketfs", "serve"]:
                check(o["kind"] == "StatefulSet" and o["spec"].get("replicas") == 1,
                      f"{where}: the gateway is a StatefulSet of 1 replica")
                opts = flag_values(argv)
                claims = {t["metadata"]["name"]
                          for t in o["spec"].get("volumeClaimTemplates", [])}
                for flag in ("--state-dir", "--cache-dir"):
                    d = opts.get(flag) or ""
                    on = [m for m in mounts
                          if d.startswith(m["mountPath"].rstrip("/") + "/") or d == m["mountPath"]]
                    check(bool(on) and on[0]["name"] in claims,
                          f"{cw}: {flag} {d} is on a PersistentVolumeClaim")
                port_numbers = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
                listen_port = lambda flag: int((opts.get(flag) or ":0").rsplit(":", 1)[1])
                check(port_numbers.get("nfs") == listen_port("--listen"),
                      f"{cw}: containerPort nfs is the --listen port")
                http_paths = []
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    get = (c.get(probe) or {}).get("httpGet")
                    if get:
                        number = port_numbers.get(get.get("port"), get.get("port"))
                        check(number == listen_port("--metrics-listen"),
                              f"{cw}: {probe} GET {get.get('path')} goes to the --metrics-listen "
                              "port, the only HTTP port")
                        http_paths.append(get.get("path", "/"))
                o["_http"] = sorted(set(http_paths))
                env = {e["name"]: e.get("value") for e in c.get("env", [])}
                check(env.get("BUCKETFS_STATE_DIR") == opts.get("--state-dir"),
                      f"{cw}: env BUCKETFS_STATE_DIR is --state-dir (for `bucketfs status`)")
                o["_argv"] = argv
                o["_ports"] = ports
    gateways = [o for o in objs if "_argv" in o]
    check(len(gateways) == 1, "one workload runs `bucketfs serve`")
    exports = set()
    for g in gateways:
        for b in flag_values(g["_argv"], multi=True).get("--bucket", []):
            name = b.split("=", 1)[0] if "=" in b else b.split(":", 1)[0]
            exports.add("/" + name)
    for name, svc in by_kind.get("Service", {}).items():
        sel = svc["spec"].get("selector") or {}
        targets = [g for g in gateways
                   if all(g["spec"]["template"]["metadata"]["labels"].get(k) == v
                          for k, v in sel.items())]
        if not check(bool(sel) and bool(targets), f"Service/{name}: selects the gateway's pod"):
            continue
        ports = svc["spec"].get("ports", [])
        check(any(p.get("port") == 2049 and p.get("protocol", "TCP") == "TCP" for p in ports),
              f"Service/{name}: port 2049/TCP")
        check(svc["spec"].get("type", "ClusterIP") == "ClusterIP", f"Service/{name}: ClusterIP")
        for p in ports:
            t = p.get("targetPort")
            if isinstance(t, str):
                check(t in targets[0]["_ports"], f"Service/{name}: targetPort {t} is a pod port")
    for name, pv in by_kind.get("PersistentVolume", {}).items():
        nfs = pv["spec"].get("nfs") or {}
        check(bool(nfs.get("server")) and str(nfs.get("path", "")).startswith("/"),
              f"PersistentVolume/{name}: nfs server and path")
        check(nfs.get("path") in exports,
              f"PersistentVolume/{name}: nfs path {nfs.get('path')} is an export of the gateway "
              f"({' '.join(sorted(exports))})")
    for name, pvc in by_kind.get("PersistentVolumeClaim", {}).items():
        vol = pvc["spec"].get("volumeName")
        if vol:
            pv = by_kind.get("PersistentVolume", {}).get(vol)
            if check(pv is not None, f"PersistentVolumeClaim/{name}: volume {vol} defined"):
                check(set(pvc["spec"].get("accessModes", [])) <= set(pv["spec"]["accessModes"]) and
                      pvc["spec"].get("storageClassName") == pv["spec"].get("storageClassName"),
                      f"PersistentVolumeClaim/{name}: access modes and class match {vol}")
    kubeconform = shutil.which("kubeconform")
    if kubeconform:
        r = subprocess.run([kubeconform, "-strict", "-summary", "-ignore-missing-schemas",
                            "-skip", "Kustomization"] + files, capture_output=True, text=True)
        check(r.returncode == 0, "kubeconform: " + (r.stdout + r.stderr).strip())
    else:
        print("skip kubeconform: not installed (the checks above stand in for it)")
    return [(g["_argv"], g.get("_http", [])) for g in gateways]


# ---------------------------------------------------------------------------------------------
# Flags, then a real start of each command line
def flag_values(argv, multi=False):
    """{--flag: value} of `bucketfs serve` argv (value None for a flag without one)."""
    out = {}
    i = 2
    while i < len(argv):
        a = argv[i]
        if a.startswith("--"):
            name, eq, value = a.partition("=")
            if not eq:
                value = None
                if i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                    value = argv[i + 1]
                    i += 1
            if multi:
                out.setdefault(name, []).append(value)
            else:
                out[name] = value
        i += 1
    return out


def known_flags():
    r = subprocess.run([BUCKETFS, "serve", "--help"], capture_output=True, text=True)
    check(r.returncode == 0, "bucketfs serve --help runs")
    flags = set()
    for line in r.stdout.splitlines():
        m = re.match(r"^\s+(?:-\w,)?(--[a-z][a-z0-9-]*)", line)
        if m:
            flags.add(m.group(1))
    check("--bucket" in flags and "--state-dir" in flags, "bucketfs serve --help lists the flags")
    return flags


def run_gateway(name, argv, tmp, http_paths=()):
    """Starts `bucketfs serve` with argv's flags (addresses and directories made local)."""
    d = tempfile.mkdtemp(prefix=name + "-", dir=tmp)
    local = os.path.join(d, "local")
    state = os.path.join(d, "state")
    out, skip = [BUCKETFS, "serve", "--local-dir=" + local], False
    for a in argv[2:]:
        if skip:
            skip = False
            continue
        flag, eq, value = a.partition("=")
        if flag in ("--endpoint", "--local-dir", "--path-style"):
            skip = not eq and flag != "--path-style"
            continue
        replace = {"--listen": "127.0.0.1:0", "--metrics-listen": "127.0.0.1:0",
                   "--state-dir": state, "--cache-dir": os.path.join(d, "cache"),
                   "--admin-socket": os.path.join(state, "admin.sock")}
        if flag in replace:
            out.append(flag + "=" + replace[flag])
            skip = not eq
            continue
        if flag == "--bucket" or flag == "-b":
            b = value if eq else None
            if b is not None:
                bucket = (b.split("=", 1)[1] if "=" in b else b).split(":", 1)[0]
                os.makedirs(os.path.join(local, bucket), exist_ok=True)
        out.append(a)
    for i, a in enumerate(out):  # "--bucket VALUE" spelled as two words
        if a in ("--bucket", "-b") and i + 1 < len(out):
            b = out[i + 1]
            bucket = (b.split("=", 1)[1] if "=" in b else b).split(":", 1)[0]
            os.makedirs(os.path.join(local, bucket), exist_ok=True)
    os.makedirs(local, exist_ok=True)
    env = dict(os.environ, BUCKETFS_STATE_DIR=state)
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(k, None)
    # A gateway that exits by itself with status 0 right after starting, with no signal, is a
    # known intermittent gateway bug (seen in about 1 start in 25), not a fault of these files:
    # say so loudly and start it again, at most twice.
    for attempt in range(3):
        if not start_and_stop(name, argv, out, env, os.path.join(d, f"bucketfs.{attempt}.log"),
                              http_paths):
            return
        print(f"WARN {name}: the gateway exited by itself with status 0 before SIGTERM "
              f"(attempt {attempt + 1}); starting it again")
        shutil.rmtree(state, ignore_errors=True)
    check(False, f"{name}: the gateway stays up until SIGTERM (exited by itself 3 times)")


def start_and_stop(name, argv, out, env, log_path, http_paths):
    """One start; True when the gateway exited by itself with status 0 (retry)."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(out, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.time() + 90
        listening = False
        while time.time() < deadline and proc.poll() is None:
            if "listening on" in open(log_path).read():
                listening = True
                break
            time.sleep(0.2)
        if proc.poll() == 0:
            return True
        log_text = open(log_path).read()
        failed = "" if listening else f" (exit status {proc.poll()}):\n{log_text}"
        if not check(listening, f"{name}: `bucketfs serve` starts with these flags: "
                                f"{' '.join(argv[2:])}" + failed):
            return False
        r = subprocess.run([BUCKETFS, "status"], capture_output=True, text=True, env=env,
                           timeout=60)
        if r.returncode != 0 and proc.poll() == 0:
            return True
        first = r.stdout.splitlines()[0] if r.stdout else r.stderr.strip()
        check(r.returncode == 0 and "export" in r.stdout,
              f"{name}: `bucketfs status` (the health check) answers: {first}")
        m = re.search(r"metrics on http://[^:]+:(\d+)/", open(log_path).read())
        for path in http_paths:
            status = None
            if m:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{m.group(1)}{path}",
                                                timeout=10) as reply:
                        status = reply.status
                except urllib.error.HTTPError as e:
                    status = e.code
                except OSError as e:
                    status = str(e)
            check(status == 200, f"{name}: GET {path} on the metrics port (the probes) answers "
                                 f"200 (got {status})")
        if proc.poll() == 0:
            return True
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, f"{name}: SIGTERM stops the gateway with status 0 (got {rc})")
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def check_command_lines(lines, tmp):
    flags = known_flags()
    for name, argv, http in lines:
        if not argv:
            continue
        check(argv[:2] == ["bucketfs", "serve"], f"{name}: runs `bucketfs serve`")
        seen = []
        for a in argv[2:]:
            if a.startswith("-"):
                flag = a.split("=", 1)[0]
                check(flag in flags or flag == "-b",
                      f"{name}: flag {flag} is accepted by `bucketfs serve`", quiet=True)
                if flag not in ("--bucket", "-b"):
                    check(flag not in seen, f"{name}: flag {flag} is given once", quiet=True)
                seen.append(flag)
        check(True, f"{name}: {len(seen)} flags, each listed by `bucketfs serve --help`, none "
                    "given twice")
        run_gateway(name, argv, tmp, http)


def main():
    tmp = tempfile.mkdtemp(prefix="bfs-deploy-")
    try:
        docker = check_dockerfile()
        if docker is not None:
            # As the Dockerfile's header runs it: the entrypoint plus the bucket and region.
            docker = docker + ["--bucket", "my-data", "--region", "us-east-1"]
        unit = check_systemd(tmp)
        kube = check_kubernetes()
        lines = [("Dockerfile ENTRYPOINT", docker), ("bucketfs.service ExecStart", unit)]
        lines = [(name, argv, []) for name, argv in lines]
        lines += [("StatefulSet", argv, http) for argv, http in kube]
        check_command_lines(lines, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"\n{len(failures)} check(s) failed:")
        for f in failures:
            print("  " + f.splitlines()[0])
        sys.exit(1)
    print("\nall deployment checks passed")


main()
