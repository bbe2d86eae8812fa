#!/usr/bin/env bash
# Installs the system packages tsemlab needs on a Debian or Ubuntu host, if any
# are missing: QEMU, apt/dpkg tools for the stock kernel, bash, coreutils and
# apparmor (apparmor_parser) for the guest image, mmdebstrap and erofs-utils for
# the workload images, runc for container-mode scenarios. Go
# itself must already be installed (1.26 or newer).
set -euo pipefail

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v dpkg-deb >/dev/null || need+=(dpkg)
command -v chown >/dev/null || need+=(coreutils)
command -v bash >/dev/null || need+=(bash)
command -v git >/dev/null || need+=(git)
command -v make >/dev/null || need+=(make)
# The AppArmor labs load profiles in the guest with the host's
# apparmor_parser (in /sbin, which may not be on a user's PATH).
command -v apparmor_parser >/dev/null || [[ -x /sbin/apparmor_parser || -x /usr/sbin/apparmor_parser ]] || need+=(apparmor)
# Workload root filesystems (images/): bootstrapped with mmdebstrap, packed
# as erofs.
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v mkfs.erofs >/dev/null || need+=(erofs-utils)
# Container-mode scenarios: Debian's runc, packed into the guest image.
command -v runc >/dev/null || [[ -x /usr/sbin/runc ]] || need+=(runc)
# The default stock kernel is fetched with apt; an empty package index cannot
# resolve it.
index_empty=0
if command -v apt-cache >/dev/null && ! apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1; then
	index_empty=1
fi

if ((${#need[@]} == 0 && index_empty == 0)); then
	exit 0
fi
if ! command -v apt-get >/dev/null; then
	echo "install-deps: missing ${need[*]:-nothing} and no apt-get: install QEMU (qemu-system-x86_64) yourself and pass --kernel" >&2
	exit 1
fi
sudo=()
if ((EUID != 0)); then
	sudo=(sudo)
fi
echo "install-deps: installing ${need[*]:-(updating the package index only)}" >&2
"${sudo[@]}" apt-get update -qq
if ((${#need[@]} > 0)); then
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
