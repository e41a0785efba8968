#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hopvm/boot.h"
#include "hopvm/error.h"

int boot_image_read(const char *path, struct boot_image *image)
{
	struct stat st;
	size_t done = 0;
	int fd, ret;

	memset(image, 0, sizeof(*image));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(-errno, "cannot open guest image '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		ret = err_set(-errno, "cannot stat '%s': %s", path, strerror(errno));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = err_set(-EINVAL, "guest image '%s' is not a regular file", path);
		goto out_close;
	}
	if (st.st_size == 0 || (uint64_t)st.st_size > BOOT_IMAGE_MAX_SIZE) {
		ret = err_set(-EFBIG, "guest image '%s' is %s (%lld bytes)", path,
			      st.st_size == 0 ? "empty" : "larger than 1 GiB",
			      (long long)st.st_size);
		goto out_close;
	}
	image->data = malloc((size_t)st.st_size);
	if (image->data == NULL) {
		ret = err_set(-ENOMEM, "out of memory reading '%s'", path);
		goto out_close;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, image->data + done, (size_t)st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = err_set(n < 0 ? -errno : -EIO, "cannot read '%s': %s", path,
				      n < 0 ? strerror(errno) : "file shrank while reading");
			boot_image_free(image);
			goto out_close;
		}
		done += (size_t)n;
	}
	image->size = done;
	ret = 0;
out_close:
	close(fd);
	return ret;
}

void boot_image_free(struct boot_image *image)
{
	free(image->data);
	image->data = NULL;
	image->size = 0;
}
