#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "hopvm/error.h"
#include "hopvm/tap.h"

static int tunsetiff_error(const char *name, int err)
{
	switch (err) {
	case EPERM:
		return err_set(-EPERM, "TAP '%s': creating or attaching it needs CAP_NET_ADMIN: run "
			       "hopvm as root, or create it first for your user (ip tuntap add dev "
			       "%s mode tap user $USER)", name, name);
	case EBUSY:
		return err_set(-EBUSY, "TAP '%s' is busy: another process (or another --net) has "
			       "it open", name);
	case EINVAL:
		return err_set(-EINVAL, "'%s' exists and is not a TAP device (a TUN, a multi-queue "
			       "TAP or another kind of interface): give another name", name);
	default:
		return err_set(-err, "TAP '%s': TUNSETIFF: %s", name, strerror(err));
	}
}

int tap_open(const char *name)
{
	struct ifreq ifr;
	unsigned int features = 0;
	int hdr_len = TAP_VNET_HDR_LEN, fd, ret;

	if (name[0] == '\0')
		return err_set(-EINVAL, "a TAP needs a name");
	if (strlen(name) >= IFNAMSIZ)
		return err_set(-ENAMETOOLONG, "TAP name '%s' is longer than the %d bytes an "
			       "interface name may have", name, IFNAMSIZ - 1);
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
			return err_set(-errno, "TAP '%s': no /dev/net/tun: load the tun module "
				       "(modprobe tun) or create the node (mknod /dev/net/tun c 10 "
				       "200)", name);
		if (errno == EACCES || errno == EPERM)
			return err_set(-errno, "TAP '%s': no permission to open /dev/net/tun: run "
				       "hopvm as root, or give your user access to it", name);
		return err_set(-errno, "TAP '%s': cannot open /dev/net/tun: %s", name,
			       strerror(errno));
	}
	if (ioctl(fd, TUNGETFEATURES, &features) == 0 && !(features & IFF_VNET_HDR)) {
		ret = err_set(-EOPNOTSUPP, "TAP '%s': this kernel's TAP has no IFF_VNET_HDR, which "
			      "hopvm needs", name);
		goto fail;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, strlen(name));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = tunsetiff_error(name, errno);
		goto fail;
	}
	errno = 0;
	if (!(ifr.ifr_flags & IFF_VNET_HDR) || ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0) {
		int err = errno != 0 ? errno : EOPNOTSUPP;

		ret = err_set(-err, "TAP '%s' cannot carry the 12-byte virtio-net header "
			      "(IFF_VNET_HDR, TUNSETVNETHDRSZ): %s", name, strerror(err));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return ret;
}

int tap_set_offload(int fd, const char *name, unsigned tun_offloads)
{
	if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)tun_offloads) < 0)
		return err_set(-errno, "TAP '%s': TUNSETOFFLOAD 0x%x: %s", name, tun_offloads,
			       strerror(errno));
	return 0;
}
