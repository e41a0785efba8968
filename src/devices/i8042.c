#include <errno.h>
#include <string.h>

#include "hopvm/device_state.h"
#include "hopvm/error.h"
#include "hopvm/i8042.h"

#define OFFSET_DATA 0
#define OFFSET_COMMAND 4

#define STATUS_OBF 0x01
#define STATUS_SYSTEM 0x04
#define STATUS_COMMAND 0x08	/* the last write went to the command port */
#define STATUS_UNLOCKED 0x10	/* the keylock is open; else Linux warns "Keylock active" */

#define CTR_KBD_INT 0x01
#define CTR_SYSTEM 0x04
#define CTR_KBD_DISABLE 0x10
#define CTR_AUX_DISABLE 0x20
#define CTR_POWER_ON 0x65	/* keyboard interrupt, system flag, aux disabled, translate */

#define OUTPORT_RESET 0x01	/* the CPU's reset line, active low */
#define OUTPORT_A20 0x02

#define CMD_READ_CTR 0x20
#define CMD_WRITE_CTR 0x60
#define CMD_AUX_DISABLE 0xa7
#define CMD_AUX_ENABLE 0xa8
#define CMD_AUX_TEST 0xa9
#define CMD_SELF_TEST 0xaa
#define CMD_KBD_TEST 0xab
#define CMD_KBD_DISABLE 0xad
#define CMD_KBD_ENABLE 0xae
#define CMD_READ_OUTPORT 0xd0
#define CMD_WRITE_OUTPORT 0xd1
#define CMD_WRITE_KBD_OUT 0xd2
#define CMD_WRITE_AUX_OUT 0xd3
#define CMD_WRITE_AUX 0xd4
#define CMD_PULSE 0xf0		/* 0xf0-0xff: pulse low the output lines whose bits are 0 */

#define SELF_TEST_OK 0x55
#define KBD_TEST_OK 0x00
#define AUX_TEST_CLOCK_STUCK 0x02	/* what a controller with no aux port wired answers */

#define KBD_SET_LEDS 0xed
#define KBD_ECHO 0xee
#define KBD_SCAN_SET 0xf0
#define KBD_IDENTIFY 0xf2
#define KBD_TYPEMATIC 0xf3
#define KBD_RESET 0xff
#define KBD_ACK 0xfa
#define KBD_SELF_TEST_OK 0xaa
#define KBD_ID_MF2_1 0xab
#define KBD_ID_MF2_2 0x83

/* IRQ 1 is edge-triggered on a PC, so each byte gets an edge of its own. */
static void pulse_irq(struct i8042 *kbd)
{
	if ((kbd->ctr & CTR_KBD_INT) && kbd->irq) {
		kbd->irq(kbd->ctx, 1);
		kbd->irq(kbd->ctx, 0);
	}
}

static void out_push(struct i8042 *kbd, uint8_t byte)
{
	if (kbd->out_count == I8042_BUFFER_SIZE)
		return;	/* the guest is not reading; the byte is lost */
	kbd->out[(kbd->out_head + kbd->out_count) % I8042_BUFFER_SIZE] = byte;
	if (kbd->out_count++ == 0)
		pulse_irq(kbd);
}

static uint8_t out_pop(struct i8042 *kbd)
{
	if (kbd->out_count == 0)
		return kbd->last_out;	/* the output buffer latch still holds it */
	kbd->last_out = kbd->out[kbd->out_head];
	kbd->out_head = (kbd->out_head + 1) % I8042_BUFFER_SIZE;
	if (--kbd->out_count > 0)
		pulse_irq(kbd);
	return kbd->last_out;
}

/* The controller's answer takes the place of whatever waits, as in the chip's one-byte buffer
 * (Firecracker's i8042 flushes too): Linux leaves the byte of its failed aux loop test unread,
 * and it must not stand in front of the answer to the next command. */
static void controller_answer(struct i8042 *kbd, uint8_t byte)
{
	kbd->out_count = 0;
	out_push(kbd, byte);
}

static uint8_t i8042_status(const struct i8042 *kbd)
{
	uint8_t status = STATUS_UNLOCKED;

	if (kbd->out_count > 0)
		status |= STATUS_OBF;
	if (kbd->ctr & CTR_SYSTEM)
		status |= STATUS_SYSTEM;
	if (kbd->last_was_cmd)
		status |= STATUS_COMMAND;
	return status;
}

static void write_ctr(struct i8042 *kbd, uint8_t ctr)
{
	bool enabling = !(kbd->ctr & CTR_KBD_INT) && (ctr & CTR_KBD_INT);

	kbd->ctr = ctr;
	/* The chip's interrupt output is "buffer full and enabled": enabling it over a waiting
	 * byte is an edge, or that byte would never be read. */
	if (enabling && kbd->out_count > 0)
		pulse_irq(kbd);
}

/* A byte for the keyboard, answered as an AT keyboard does. */
static void keyboard_write(struct i8042 *kbd, uint8_t byte)
{
	uint8_t cmd = kbd->kbd_pending;

	if (cmd) {
		kbd->kbd_pending = 0;
		out_push(kbd, KBD_ACK);
		if (cmd == KBD_SCAN_SET && byte == 0)
			out_push(kbd, kbd->scan_set);
		else if (cmd == KBD_SCAN_SET && byte <= 3)
			kbd->scan_set = byte;
		return;
	}
	switch (byte) {
	case KBD_RESET:
		kbd->scan_set = 2;
		out_push(kbd, KBD_ACK);
		out_push(kbd, KBD_SELF_TEST_OK);
		break;
	case KBD_IDENTIFY:
		out_push(kbd, KBD_ACK);
		out_push(kbd, KBD_ID_MF2_1);
		out_push(kbd, KBD_ID_MF2_2);
		break;
	case KBD_ECHO:
		out_push(kbd, KBD_ECHO);
		break;
	case KBD_SET_LEDS:
	case KBD_TYPEMATIC:
	case KBD_SCAN_SET:
		kbd->kbd_pending = byte;	/* the argument byte comes next */
		out_push(kbd, KBD_ACK);
		break;
	default:
		out_push(kbd, KBD_ACK);
		break;
	}
}

/* Returns true when the command asks to reset the CPU. */
static bool controller_command(struct i8042 *kbd, uint8_t cmd)
{
	kbd->pending_cmd = 0;
	switch (cmd) {
	case CMD_READ_CTR:
		controller_answer(kbd, kbd->ctr);
		break;
	case CMD_WRITE_CTR:
	case CMD_WRITE_OUTPORT:
	case CMD_WRITE_KBD_OUT:
	case CMD_WRITE_AUX_OUT:
	case CMD_WRITE_AUX:
		kbd->pending_cmd = cmd;	/* the data byte comes next */
		break;
	case CMD_AUX_DISABLE:
		kbd->ctr |= CTR_AUX_DISABLE;
		break;
	case CMD_AUX_ENABLE:
		kbd->ctr &= (uint8_t)~CTR_AUX_DISABLE;
		break;
	case CMD_AUX_TEST:
		controller_answer(kbd, AUX_TEST_CLOCK_STUCK);
		break;
	case CMD_SELF_TEST:
		controller_answer(kbd, SELF_TEST_OK);
		break;
	case CMD_KBD_TEST:
		controller_answer(kbd, KBD_TEST_OK);
		break;
	case CMD_KBD_DISABLE:
		kbd->ctr |= CTR_KBD_DISABLE;
		break;
	case CMD_KBD_ENABLE:
		kbd->ctr &= (uint8_t)~CTR_KBD_DISABLE;
		break;
	case CMD_READ_OUTPORT:
		controller_answer(kbd, kbd->outport);
		break;
	default:
		return cmd >= CMD_PULSE && !(cmd & OUTPORT_RESET);
	}
	return false;
}

/* A byte written to the data port; returns true when it asks to reset the CPU. */
static bool data_write(struct i8042 *kbd, uint8_t byte)
{
	uint8_t cmd = kbd->pending_cmd;

	kbd->pending_cmd = 0;
	switch (cmd) {
	case 0:
		keyboard_write(kbd, byte);
		return false;
	case CMD_WRITE_CTR:
		write_ctr(kbd, byte);
		return false;
	case CMD_WRITE_OUTPORT:
		kbd->outport = byte;
		return !(byte & OUTPORT_RESET);
	case CMD_WRITE_KBD_OUT:
	case CMD_WRITE_AUX_OUT:
		/* With a mouse the looped byte would come back flagged as aux data; without the
		 * flag Linux's loop test fails at once. */
		controller_answer(kbd, byte);
		return false;
	default:
		return false;	/* CMD_WRITE_AUX: no mouse hears it */
	}
}

static void i8042_power_on(struct i8042 *kbd)
{
	kbd->ctr = CTR_POWER_ON;
	kbd->outport = OUTPORT_RESET | OUTPORT_A20;
	kbd->pending_cmd = kbd->kbd_pending = 0;
	kbd->scan_set = 2;
	kbd->last_was_cmd = false;
	kbd->out_head = kbd->out_count = 0;
	kbd->last_out = 0;
}

void i8042_init(struct i8042 *kbd, void (*irq)(void *ctx, int level),
		void (*reset_cpu)(void *ctx), void *ctx)
{
	memset(kbd, 0, sizeof(*kbd));
	pthread_mutex_init(&kbd->lock, NULL);
	kbd->irq = irq;
	kbd->reset_cpu = reset_cpu;
	kbd->ctx = ctx;
	i8042_power_on(kbd);
}

void i8042_destroy(struct i8042 *kbd)
{
	pthread_mutex_destroy(&kbd->lock);
}

void i8042_reset(void *dev)
{
	struct i8042 *kbd = dev;

	pthread_mutex_lock(&kbd->lock);
	i8042_power_on(kbd);
	pthread_mutex_unlock(&kbd->lock);
}

/* Both ports are bytes; the offsets between them belong to other chips. */
static bool i8042_valid(uint64_t offset, unsigned size)
{
	return size == 1 && (offset == OFFSET_DATA || offset == OFFSET_COMMAND);
}

int i8042_read(void *dev, uint64_t offset, uint8_t *data, unsigned size)
{
	struct i8042 *kbd = dev;

	if (!i8042_valid(offset, size))
		return -EINVAL;
	pthread_mutex_lock(&kbd->lock);
	*data = offset == OFFSET_DATA ? out_pop(kbd) : i8042_status(kbd);
	pthread_mutex_unlock(&kbd->lock);
	return 0;
}

int i8042_write(void *dev, uint64_t offset, const uint8_t *data, unsigned size)
{
	struct i8042 *kbd = dev;
	bool reset_cpu;

	if (!i8042_valid(offset, size))
		return -EINVAL;
	pthread_mutex_lock(&kbd->lock);
	kbd->last_was_cmd = offset == OFFSET_COMMAND;
	reset_cpu = kbd->last_was_cmd ? controller_command(kbd, *data) : data_write(kbd, *data);
	pthread_mutex_unlock(&kbd->lock);
	/* Unlocked, so the owner may reset or destroy this device from the callback. */
	if (reset_cpu && kbd->reset_cpu)
		kbd->reset_cpu(kbd->ctx);
	return 0;
}

/* State format 1: ctr, outport, pending controller command, pending keyboard command, scan
 * set, last-write-was-a-command, the output buffer (16 bytes), its head and count, the last
 * byte read; one byte each. */
int i8042_save(void *dev, uint8_t *buf, size_t len)
{
	struct i8042 *kbd = dev;
	struct state_buf s;
	const uint8_t regs[] = { kbd->ctr, kbd->outport, kbd->pending_cmd, kbd->kbd_pending,
				 kbd->scan_set, kbd->last_was_cmd };

	state_writer(&s, buf, len);
	pthread_mutex_lock(&kbd->lock);
	state_put_bytes(&s, regs, sizeof(regs));
	state_put_bytes(&s, kbd->out, sizeof(kbd->out));
	state_put_u8(&s, (uint8_t)kbd->out_head);
	state_put_u8(&s, (uint8_t)kbd->out_count);
	state_put_u8(&s, kbd->last_out);
	pthread_mutex_unlock(&kbd->lock);
	return state_saved(&s);
}

/* The only commands that wait for a data byte. */
static bool valid_pending(uint8_t controller, uint8_t keyboard)
{
	bool c = controller == 0 || controller == CMD_WRITE_CTR ||
		 controller == CMD_WRITE_OUTPORT || controller == CMD_WRITE_KBD_OUT ||
		 controller == CMD_WRITE_AUX_OUT || controller == CMD_WRITE_AUX;
	bool k = keyboard == 0 || keyboard == KBD_SET_LEDS || keyboard == KBD_TYPEMATIC ||
		 keyboard == KBD_SCAN_SET;

	return c && k;
}

int i8042_load(void *dev, const uint8_t *buf, size_t len)
{
	struct i8042 *kbd = dev;
	struct state_buf s;
	uint8_t regs[6], out[I8042_BUFFER_SIZE], head, count, last;
	int ret;

	state_reader(&s, buf, len);
	state_get_bytes(&s, regs, sizeof(regs));
	state_get_bytes(&s, out, sizeof(out));
	head = state_get_u8(&s);
	count = state_get_u8(&s);
	last = state_get_u8(&s);
	ret = state_loaded(&s, "i8042");
	if (ret < 0)
		return ret;
	if (!valid_pending(regs[2], regs[3]) || regs[4] < 1 || regs[4] > 3 || regs[5] > 1 ||
	    head >= I8042_BUFFER_SIZE || count > I8042_BUFFER_SIZE)
		return err_set(-EINVAL, "i8042 state: impossible values (pending 0x%x/0x%x, scan "
			       "set %u, buffer %u at %u)", regs[2], regs[3], regs[4], count, head);
	pthread_mutex_lock(&kbd->lock);
	kbd->ctr = regs[0];
	kbd->outport = regs[1];
	kbd->pending_cmd = regs[2];
	kbd->kbd_pending = regs[3];
	kbd->scan_set = regs[4];
	kbd->last_was_cmd = regs[5];
	memcpy(kbd->out, out, sizeof(out));
	kbd->out_head = head;
	kbd->out_count = count;
	kbd->last_out = last;
	pthread_mutex_unlock(&kbd->lock);
	return 0;
}

const struct device_ops i8042_ops = {
	.name = "i8042",
	.read = i8042_read,
	.write = i8042_write,
	.reset = i8042_reset,
	.state_version = 1,
	.save = i8042_save,
	.load = i8042_load,
};
