#!/usr/bin/env bash
# Build the one-folder desktop application: packaging/dist/ultrasound-reader/ultrasound-reader.
#
#   packaging/build.sh [--dist DIR] [--work DIR] [--python PY] [--no-self-test] [--no-strip]
#
# Python: --python, else $PYTHON, else .venv/bin/python of the repository (what .ci/run
# installs: the project with its [test] extra, which brings onnxruntime and onnx). The build
# needs torch in that environment (to export the ONNX graphs and to compute the self-test
# reference) and installs PyInstaller into it when missing (the [packaging] extra).
# Output: --dist DIR (default packaging/dist), intermediate files in --work DIR (default
# packaging/build); both are git-ignored. Signing key: $ULTRASOUND_READER_BUILD_SIGN_KEY (an EC
# private key, PEM) if set, else a key generated for this build and thrown away after
# signing. See packaging/README.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
DIST="${ULTRASOUND_READER_BUILD_DIST:-$HERE/dist}"
WORK="${ULTRASOUND_READER_BUILD_WORK:-$HERE/build}"
PY="${PYTHON:-$REPO/.venv/bin/python}"
SELF_TEST=1
STRIP=1
while [ $# -gt 0 ]; do
  case "$1" in
    --dist) DIST="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    --python) PY="$2"; shift 2 ;;
    --no-self-test) SELF_TEST=0; shift ;;
    --no-strip) STRIP=0; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: error: unknown argument $1 (see --help)" >&2; exit 1 ;;
  esac
done
fail() { echo "build.sh: error: $*" >&2; exit 1; }
# a bare command name (PYTHON=python3) is looked up on PATH; relative paths are made absolute
# before the script changes folder
case "$PY" in */*) PY="$(cd "$(dirname "$PY")" 2>/dev/null && pwd)/$(basename "$PY")" ;; *) PY="$(command -v "$PY" || echo "$PY")" ;; esac
if [ -n "${ULTRASOUND_READER_BUILD_SIGN_KEY:-}" ]; then
  [ -f "$ULTRASOUND_READER_BUILD_SIGN_KEY" ] || fail "ULTRASOUND_READER_BUILD_SIGN_KEY: $ULTRASOUND_READER_BUILD_SIGN_KEY is not a file"
  ULTRASOUND_READER_BUILD_SIGN_KEY="$(cd "$(dirname "$ULTRASOUND_READER_BUILD_SIGN_KEY")" && pwd)/$(basename "$ULTRASOUND_READER_BUILD_SIGN_KEY")"
  export ULTRASOUND_READER_BUILD_SIGN_KEY
fi
[ -x "$PY" ] || fail "no Python at $PY (create the venv: python3 -m venv .venv && .venv/bin/pip install -e '.[test]'; or pass --python)"
mkdir -p "$DIST" "$WORK"
DIST="$(cd "$DIST" && pwd)"; WORK="$(cd "$WORK" && pwd)"
APP="$DIST/ultrasound-reader"
STAGE="$WORK/stage"
T0=$(date +%s)
step() { echo "== [$(( $(date +%s) - T0 )) s] $*"; }

cd "$REPO"
# Our package must come from this checkout (an editable install of another one would be frozen otherwise).
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
"$PY" - <<'EOF' || fail "the build environment lacks a requirement (see above)"
import importlib.util, sys
from pathlib import Path
import ultrasound_reader
want = Path.cwd() / "ultrasound_reader"
if Path(ultrasound_reader.__file__).resolve().parent != want.resolve():
    sys.exit(f"ultrasound_reader is imported from {ultrasound_reader.__file__}, not from {want}")
missing = [m for m in ("torch", "onnxruntime", "onnx") if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"missing in {sys.prefix}: {', '.join(missing)} (pip install -e '.[test]')")
EOF
if ! "$PY" -c "import PyInstaller" 2>/dev/null; then
  step "installing PyInstaller into $("$PY" -c 'import sys; print(sys.prefix)')"
  "$PY" -m pip install -q "pyinstaller>=6.10,<7" || fail "cannot install PyInstaller"
fi

step "staging the demo bundles in $STAGE"
rm -rf "$STAGE"
mkdir -p "$STAGE/models" "$STAGE/selftest"
cp -a "$REPO/models/README.md" "$REPO/models/trust" "$STAGE/models/"
BUNDLES=()
for m in "$REPO"/models/*/manifest.json; do
  b="$(basename "$(dirname "$m")")"
  cp -a "$REPO/models/$b" "$STAGE/models/$b"
  BUNDLES+=("$b")
done
[ ${#BUNDLES[@]} -gt 0 ] || fail "no bundle in $REPO/models"

KEYDIR="$(mktemp -d)"
trap 'rm -rf "$KEYDIR"' EXIT
if [ -n "${ULTRASOUND_READER_BUILD_SIGN_KEY:-}" ]; then
  KEY="$ULTRASOUND_READER_BUILD_SIGN_KEY"
  [ -f "$KEY" ] || fail "ULTRASOUND_READER_BUILD_SIGN_KEY=$KEY: no such file"
  KEYNAME="${ULTRASOUND_READER_BUILD_SIGN_KEY_NAME:-site-build}"
else
  KEY="$KEYDIR/build.pem"
  KEYNAME="build-$(date -u +%Y%m%d-%H%M%S)"
fi
"$PY" - "$KEY" "$STAGE/models/trust/$KEYNAME.pub" <<'EOF' || fail "signing key: see above"
import os, sys
from pathlib import Path
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
key_path, pub_path = Path(sys.argv[1]), Path(sys.argv[2])
if key_path.exists():
    from ultrasound_reader.ai.signing import load_signing_key
    key = load_signing_key(key_path)
else:  # a key for this build only; the private half is deleted when the build ends
    key = ec.generate_private_key(ec.SECP256R1())
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
pub_path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
print(f"build key: {pub_path.name} added to the build's trust store")
EOF

step "exporting ONNX graphs and signing the staged bundles"
export ULTRASOUND_READER_MODELS="$STAGE/models"
export ULTRASOUND_READER_TRUST_STORE="$STAGE/models/trust"
export ULTRASOUND_READER_CACHE="$WORK/cache"
for b in "${BUNDLES[@]}"; do
  "$PY" -m ultrasound_reader bundle export-onnx "$STAGE/models/$b" --key "$KEY" >/dev/null
  "$PY" -m ultrasound_reader bundle verify "$STAGE/models/$b" --trust-store "$STAGE/models/trust"
done

step "self-test reference: the source install (torch) on the demo cases"
"$PY" -m ultrasound_reader self-test --runtime torch --write-reference "$STAGE/selftest/reference.json"
# The same check the frozen app will run, here with this environment's ONNX Runtime: fail early.
"$PY" -m ultrasound_reader self-test --runtime onnx --reference "$STAGE/selftest/reference.json" >/dev/null
unset ULTRASOUND_READER_MODELS ULTRASOUND_READER_TRUST_STORE

step "PyInstaller"
ULTRASOUND_READER_BUILD_STAGE="$STAGE" "$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$DIST" --workpath "$WORK/pyinstaller" "$HERE/ultrasound-reader.spec"
[ -x "$APP/ultrasound-reader" ] || fail "PyInstaller wrote no $APP/ultrasound-reader"
rm -rf "$APP/licenses"
cp -a "$STAGE/licenses" "$APP/licenses"
cp -a "$REPO/ultrasound_reader/gui/icon.png" "$APP/ultrasound-reader.png"
cat > "$APP/README.txt" <<EOF
Ultrasound Reader $("$PY" -c 'import ultrasound_reader; print(ultrasound_reader.__version__)') - research software, not for clinical use.

Start:      ./ultrasound-reader            (the workstation, on the bundled demo)
Check:      ./ultrasound-reader --self-test
Commands:   ./ultrasound-reader --help
Licences:   licenses/INDEX.txt
Built:      $(date -u +%Y-%m-%dT%H:%MZ) on $(uname -sm); demo bundles signed with key $KEYNAME.
EOF
SIZE=$(du -sm "$APP" | cut -f1)
if [ "$STRIP" = 1 ] && command -v strip >/dev/null; then
  # Debug symbols out of the shared libraries (libpython alone: 23 -> 5 MB). Not those that
  # auditwheel vendored into *.libs/ folders: patchelf laid them out so that strip breaks
  # them ("ELF load command address/offset not page-aligned"); PyInstaller's own strip
  # option strips those too, hence this step instead.
  find "$APP/_internal" -type f \( -name '*.so' -o -name '*.so.*' \) -not -path '*.libs/*' -print0 \
    | xargs -0 strip --strip-unneeded 2>/dev/null || true
  step "stripped: ${SIZE} MB -> $(du -sm "$APP" | cut -f1) MB"
  SIZE=$(du -sm "$APP" | cut -f1)
fi
# The same library vendored into two packages' .libs folders (NumPy's and SciPy's libgfortran and
# libquadmath): the second copy becomes a relative symlink (packaging/excludes.py).
"$PY" - "$APP/_internal" "$HERE" <<'EOF'
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
import excludes
print(f"   duplicate libraries linked: {excludes.link_duplicate_libraries(Path(sys.argv[1])) / 2**20:.1f} MB")
EOF
SIZE=$(du -sm "$APP" | cut -f1)
step "built $APP: ${SIZE} MB"
du -sm "$APP"/_internal/* 2>/dev/null | sort -rn | sed -n '1,8s/^/   MB /p'  # (head would SIGPIPE sort)

if [ "$SELF_TEST" = 1 ]; then
  step "frozen self-test (no venv, env -i)"
  env -i HOME="${HOME:-/tmp}" PATH=/usr/bin:/bin QT_QPA_PLATFORM=offscreen "$APP/ultrasound-reader" --self-test
fi
step "done in $(( $(date +%s) - T0 )) s"
