/* What `hopvm exec` and its guest init (guests/exec-init) agree on: the files hopvm writes
 * into the initramfs for the init, and the frames both send over the guest's hvc0.
 *
 * The initramfs (newc cpio, written by hopvm in memory):
 *   /init                       the init program (static)
 *   /hopvm/modules/NAME.ko      the kernel modules to load, ...
 *   /hopvm/exec                 ... and everything else, as NUL-terminated "key=value"
 *                               records, in order:
 *       module=NAME.ko          load /hopvm/modules/NAME.ko (dependencies come first)
 *       root=TAG                mount the virtiofs TAG read-only as the new root
 *       tmpfs=PATH              an empty tmpfs on PATH (/tmp, /run)
 *       overlay=PATH            PATH writable: an overlay of a tmpfs on the shared PATH
 *       share=TAG:PATH          the virtiofs TAG mounted (read-write) on PATH (--rwdir)
 *       uid=N  gid=N  groups=N,N,...   who runs the command (groups may be empty)
 *       cwd=PATH                where it runs
 *       env=NAME=VALUE          its environment, one record each
 *       arg=TEXT                its arguments, argv[0] first, one record each
 *
 * The channel: the guest's first virtio console (hvc0), which the init puts in raw mode.
 * Both directions carry frames: an 8-byte header (type, three zero bytes, the payload's
 * length as a little-endian u32) and the payload.  The host sends nothing before READY (a
 * tty not yet raw would echo it back into the stream). */
#ifndef HOPVM_EXEC_ABI_H
#define HOPVM_EXEC_ABI_H

#include <stdint.h>

#define EXEC_CONFIG_PATH "/hopvm/exec"
#define EXEC_MODULES_DIR "/hopvm/modules"
#define EXEC_CHANNEL_DEV "/dev/hvc0"

enum exec_frame_type {
	EXEC_FRAME_STDIN = 0,	/* host -> guest: the command's input; length 0: end of file */
	EXEC_FRAME_STDOUT = 1,	/* guest -> host: the command's output */
	EXEC_FRAME_STDERR = 2,	/* guest -> host: its error output */
	EXEC_FRAME_STATUS = 3,	/* guest -> host: u32 status as a shell gives it (0-255,
				 * 128 + N for signal N); nothing follows */
	EXEC_FRAME_READY = 4,	/* guest -> host: raw mode is on, input may come; empty */
	EXEC_FRAME_ERROR = 5,	/* guest -> host: the init could not run the command (a
				 * mount or module failed): a message; nothing follows */
};

#define EXEC_FRAME_HEADER 8
/* No payload is longer: a longer length is a broken stream. */
#define EXEC_FRAME_MAX 65536

/* The init's own failures to run the command, as a shell reports them. */
#define EXEC_STATUS_NOT_FOUND 127
#define EXEC_STATUS_NOT_EXECUTABLE 126

#endif
