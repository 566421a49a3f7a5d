#!/usr/bin/env bash
# Runs the README's test command in a fresh minimal Debian of either release, the way a new user on
# that release would: a minbase chroot made by debootstrap from this machine's own Debian mirror,
# this source tree bind-mounted at /src, then exactly
#   ./scripts/setup.sh && ./scripts/build.sh && ctest --test-dir build --output-on-failure -j2
# inside it, as root (CI=true, no input).
#
#   scripts/check-debian.sh bookworm|trixie            fresh chroot, the test command, clean up
#   scripts/check-debian.sh trixie --deb [FILE.deb]    fresh chroot: build the .deb (cpack), or take
#                                                      FILE.deb built elsewhere on that release; then
#                                                      a second fresh chroot: apt install ./the.deb,
#                                                      `circuit doctor`, a studio --screenshot
#   scripts/check-debian.sh trixie --keep [-- CMD...]  reuse the chroot an earlier --keep left (and
#                                                      leave it); CMD instead of the test command
#
# What a chroot sees of the host: the source tree (its build/ shadowed by the chroot's own, so the
# host's build is untouched), the kernel file systems, and caches under /var/cache/circuit-debian/
# SUITE (debootstrap's and apt's downloaded packages, ccache), so a rerun does not fetch 2 GB again.
# ONNX Runtime comes from npm, which only the host reaches: the host's npm puts it into the
# project's .cache/ (setup.sh --onnxruntime) and the chroot's setup.sh finds it there. No
# certificates or credentials are copied in.
#
# Needs root (debootstrap, mount, chroot). Every exit path unmounts what it mounted.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)

usage() { echo "usage: scripts/check-debian.sh bookworm|trixie [--deb] [--keep] [-- CMD...]" >&2; exit 2; }
suite=${1:-}
case "$suite" in bookworm | trixie) ;; *) usage ;; esac
shift
keep=0 deb=0 deb_file=
cmd=()
while (($#)); do
  case "$1" in
    --keep) keep=1 ;;
    --deb)
      deb=1
      if [[ ${2:-} == *.deb ]]; then deb_file=$(realpath "$2"); shift; fi
      ;;
    --) shift; cmd=("$@"); break ;;
    *) echo "check-debian: unknown argument '$1'" >&2; usage ;;
  esac
  shift
done
((EUID == 0)) || { echo "check-debian: needs root (debootstrap, mount, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "check-debian: debootstrap is missing (scripts/setup.sh installs it)" >&2; exit 1; }

# This machine's mirror: the first http(s) URI apt uses, deb822 or one-line form.
mirror=$(sed -n 's/^URIs:[[:space:]]*\(http[^[:space:]]*\/debian\)\/\{0,1\}[[:space:]]*$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 || true)
[[ -n $mirror ]] || mirror=$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\{0,1\}\(http[^[:space:]]*\/debian\)\/\{0,1\}[[:space:]].*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

cache=/var/cache/circuit-debian/$suite
mkdir -p "$cache/debootstrap" "$cache/apt" "$cache/ccache" "$src/.cache"

mounted=()     # every mount point, in mount order
made_roots=()  # chroots this run made and removes at exit (unless --keep)
cleanup() {
  local rc=$? i r
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" 2>/dev/null || echo "check-debian: could not unmount ${mounted[i]}" >&2
  done
  if ((!keep)); then
    for r in "${made_roots[@]}"; do
      # Only once nothing is mounted below it: rm must never reach the source tree through /src.
      if ! grep -q " $r/" /proc/mounts; then rm -rf --one-file-system "$r"; fi
    done
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# make_root DIR [fresh]: a fresh minbase chroot in DIR (or, with --keep and without "fresh", the one
# an earlier run left there).
make_root() {
  local root=$1
  made_roots+=("$root")
  if ((keep)) && [[ ${2:-} != fresh && -x $root/usr/bin/apt-get ]]; then return; fi
  if grep -q " $root/" /proc/mounts; then echo "check-debian: $root still has mounts; unmount them first" >&2; exit 1; fi
  rm -rf --one-file-system "$root"
  echo "check-debian: debootstrap --variant=minbase $suite from $mirror into $root"
  debootstrap --variant=minbase --cache-dir="$cache/debootstrap" "$suite" "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
    { tail -n 20 "$cache/debootstrap.log" >&2; echo "check-debian: debootstrap failed (log: $cache/debootstrap.log)" >&2; exit 1; }
}

bind() {  # bind ROOT SRC DEST-inside-ROOT
  mkdir -p "$1$3"
  mount --bind "$2" "$1$3"
  mounted+=("$1$3")
  mount --make-private "$1$3"  # nothing mounted under it may propagate back to the host
}

# enter ROOT: the kernel file systems and the package caches. debootstrap made the device nodes;
# ptys and shared memory (PostgreSQL, Gloo) are the chroot's own.
enter() {
  local root=$1
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  mount -t proc proc "$root/proc" && mounted+=("$root/proc")
  mount -t sysfs sys "$root/sys" && mounted+=("$root/sys")
  mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts" && mounted+=("$root/dev/pts")
  mount -t tmpfs -o mode=1777 shm "$root/dev/shm" && mounted+=("$root/dev/shm")
  bind "$root" "$cache/apt" /var/cache/apt/archives
}

# with_source ROOT: the tree at /src, its build/ the chroot's own, ccache kept between runs.
with_source() {
  local root=$1
  bind "$root" "$cache/ccache" /root/.cache/ccache
  bind "$root" "$src" /src
  mkdir -p "$root/var/tmp/circuit-build"
  bind "$root" "$root/var/tmp/circuit-build" /src/build
}

run_in() {  # run_in ROOT CMD...: CMD in /src (or / when the tree is not there), a clean environment
  local root=$1
  shift
  chroot "$root" /usr/bin/env -i HOME=/root CI=true LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c 'cd /src 2>/dev/null || cd /; exec "$@"' bash "$@"
}

t0=$SECONDS
root=${CIRCUIT_CHROOT:-/var/tmp/circuit-debian-$suite}
if [[ -z $deb_file ]]; then
  make_root "$root"
  enter "$root"
  with_source "$root"
  ./scripts/setup.sh --onnxruntime  # through the host's npm, into the tree the chroot sees
  echo "check-debian: in Debian $(cat "$root/etc/debian_version") ($suite)"
fi

if ((!deb)); then
  ((${#cmd[@]})) || cmd=(bash -c './scripts/setup.sh && ./scripts/build.sh && ctest --test-dir build --output-on-failure -j2')
  echo "check-debian: ${cmd[*]}"
  rc=0
  run_in "$root" "${cmd[@]}" || rc=$?
  echo "check-debian: $suite finished with status $rc after $((SECONDS - t0)) s"
  exit "$rc"
fi

# --deb: the package as a user of this release builds it (README: cpack -G DEB) ...
if [[ -z $deb_file ]]; then
  echo "check-debian: building the .deb"
  run_in "$root" bash -c './scripts/setup.sh && ./scripts/build.sh circuit circuit-studio && cd build && rm -f circuit-studio_*.deb && cpack -G DEB' >"$cache/cpack.log" 2>&1 ||
    { tail -n 30 "$cache/cpack.log" >&2; echo "check-debian: building the .deb failed (log: $cache/cpack.log)" >&2; exit 1; }
  debs=("$root"/var/tmp/circuit-build/circuit-studio_*.deb)
  deb_file=${debs[0]}
fi
[[ -f $deb_file ]] || { echo "check-debian: no .deb to install ($deb_file)" >&2; exit 1; }
echo "check-debian: $(basename "$deb_file") depends on: $(dpkg-deb -f "$deb_file" Depends)"

# ... installed as a user of this release installs it (apt install ./the.deb, recommends and all): a
# second fresh chroot, nothing in it but the .deb and xvfb (to take the screenshot with no display).
inst=$root-install
make_root "$inst" fresh
enter "$inst"
cp "$deb_file" "$inst/tmp/"
deb_name=$(basename "$deb_file")
echo "check-debian: in a fresh Debian $(cat "$inst/etc/debian_version") ($suite): apt install ./$deb_name"
rc=0
run_in "$inst" bash -c "set -e
  apt-get update -qq
  apt-get install -y -qq ./tmp/$deb_name xvfb xauth >/tmp/apt.log 2>&1 || { tail -n 30 /tmp/apt.log; exit 1; }
  echo '--- circuit doctor'
  circuit doctor
  echo '--- circuit-studio --screenshot'
  xvfb-run -a -s '-screen 0 1600x1000x24' circuit-studio /usr/share/circuit-studio/examples/moe_mlp.circuit.json --screenshot /tmp/studio.png
  test -s /tmp/studio.png" || rc=$?
if [[ -s $inst/tmp/studio.png ]]; then
  cp "$inst/tmp/studio.png" "$cache/deb-studio.png"
  echo "check-debian: the installed studio's screenshot: $cache/deb-studio.png"
fi
echo "check-debian: --deb on $suite finished with status $rc after $((SECONDS - t0)) s"
exit "$rc"
