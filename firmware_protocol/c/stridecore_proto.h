/*
 * stridecore_proto.h - reference C encoder for the stridecore sensor wire protocol v1.
 *
 * What it is
 *   A dependency-free C99 encoder for the device side (nRF52840, ESP32 or any other MCU) of
 *   the protocol specified in firmware_protocol/PROTOCOL.md (design brief:
 *   protocol-v1.md). It builds frames byte-identical to the Python reference
 *   (firmware_protocol.frame.encode_frame, firmware_protocol.imu6.encode_imu6,
 *   firmware_protocol.cobs.cobs_encode and the bodies of firmware_protocol/messages.py);
 *   tests/test_c_encoder.py compiles it on the host and checks exactly that.
 *
 *   Frame: version u8 (0x01) | type u8 | seq u16 | payload | CRC-16/CCITT-FALSE u16,
 *   all little-endian, CRC over everything before it.
 *
 * Properties
 *   - Uses only <stdint.h>, <stddef.h>, <string.h> (memcpy/memmove): no malloc, no printf,
 *     no global state; every function is reentrant.
 *   - Caller-provided buffers. Every encoder takes the output capacity and returns the number
 *     of bytes written, or 0 if the buffer is too small or an argument is invalid (nothing
 *     useful is left in `out` then).
 *   - Every multi-byte field is written byte by byte in little-endian order (no struct
 *     packing, no pointer casts), so the output is the same on little- and big-endian CPUs
 *     and no alignment is required of any buffer. Floats are IEEE-754 binary32 (checked at
 *     compile time for size); their bit pattern is copied with memcpy into a uint32_t first.
 *
 * Integration
 *   Add stridecore_proto.c to the build and include this header. Typical device loop:
 *
 *     uint8_t frame[SCP_IMU6_FRAME_LEN(18)];
 *     int16_t samples[18][6];                     // ax ay az gx gy gz, raw counts
 *     size_t len = scp_imu6_encode(seq++, t_us, sample_idx, cfg_id, SCP_SAMPLES(samples),
 *                                  n, 0, frame, sizeof frame);
 *     ble_notify(frame, len);                     // BLE: one frame per notification
 *
 *     uint8_t line[SCP_SERIAL_MAX_LEN(SCP_IMU6_FRAME_LEN(18))];
 *     size_t m = scp_serial_encode(frame, len, line, sizeof line);
 *     uart_write(line, m);                        // serial / USB-CDC: COBS(frame) + 0x00
 *
 *   `seq` is one counter per direction (+1 for every frame the device sends, wraps at
 *   2^16); `sample_idx` counts every sample the IMU produced since START, dropped ones too.
 *
 *   Zero-copy: the payload (or reply body) may be written straight into the output buffer at
 *   out + SCP_HEADER_LEN (frames) or out + SCP_REPLY_BODY_OFFSET (replies) and then passed
 *   as the `payload`/`body` pointer: the encoders use memmove, so overlap is allowed there.
 *
 * Samples per frame from the negotiated ATT MTU (one frame per notification, a notification
 * carries MTU - 3 bytes, an IMU6 frame is 20 + 12 n bytes):
 *     n = (mtu - 3 - 20) / 12, capped at 255, see scp_imu6_n_for_mtu()
 *
 *       ATT MTU    n    frame bytes
 *          23      0    (too small: an IMU6 frame needs MTU >= 35)
 *          35      1     32
 *          65      3     56
 *         185     13    176      (common on iOS)
 *         247     18    236      (ask for this: fits one LL packet with DLE)
 *         517     41    512      (largest ATT MTU)
 *
 * CRC on Zephyr
 *   Zephyr's crc16_itu_t(0xFFFF, data, len) computes the same CRC-16/CCITT-FALSE and may be
 *   swapped in for scp_crc16(). Do NOT use crc16_ccitt(): that is the reflected (KERMIT)
 *   variant and gives different bytes. Check value of ASCII "123456789" is 0x29B1.
 *
 * Licence: same as the stridecore project (MIT).
 */
#ifndef STRIDECORE_PROTO_H
#define STRIDECORE_PROTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ sizes */
#define SCP_PROTOCOL_VERSION 0x01u /* version byte, major */
#define SCP_PROTOCOL_MINOR 0u      /* reported in the GET_INFO reply */
#define SCP_HEADER_LEN 4u          /* version, type, seq */
#define SCP_CRC_LEN 2u
#define SCP_MIN_FRAME_LEN (SCP_HEADER_LEN + SCP_CRC_LEN)
#define SCP_IMU6_HEADER_LEN 18u    /* offset of the first sample in an IMU6 frame */
#define SCP_IMU6_OVERHEAD 20u      /* IMU6 frame bytes besides the samples */
#define SCP_IMU6_BYTES_PER_SAMPLE 12u
#define SCP_IMU6_MAX_SAMPLES 255u
#define SCP_MAX_FRAME_LEN 3080u    /* 20 + 12 * 255: no frame of any type may be longer */
#define SCP_MAX_PAYLOAD_LEN (SCP_MAX_FRAME_LEN - SCP_MIN_FRAME_LEN)
#define SCP_REPLY_BIT 0x80u
#define SCP_REPLY_BODY_OFFSET 6u   /* header + req_id + status */

/* IMU6 frame length for n samples: 20 + 12 n. */
#define SCP_IMU6_FRAME_LEN(n) (SCP_IMU6_OVERHEAD + SCP_IMU6_BYTES_PER_SAMPLE * (size_t)(n))
/* Worst-case COBS output for n input bytes (delimiter excluded): n + n/254 + 1. */
#define SCP_COBS_MAX_ENCODED(n) ((size_t)(n) + (size_t)(n) / 254u + 1u)
/* A sample buffer int16_t buf[n][6] as the `samples` argument of scp_imu6_encode(). */
#define SCP_SAMPLES(buf) ((const int16_t(*)[6])(buf))
/* Worst-case serial line (COBS + 0x00 delimiter) for a frame of n bytes. */
#define SCP_SERIAL_MAX_LEN(n) (SCP_COBS_MAX_ENCODED(n) + 1u)

/* Body sizes (bytes after req_id/status for replies, whole payload for telemetry). */
#define SCP_INFO_BODY_LEN 33u
#define SCP_CONFIG_REQUEST_LEN 6u
#define SCP_CONFIG_BODY_LEN 18u
#define SCP_START_REPLY_BODY_LEN 13u
#define SCP_TIME_SYNC_REPLY_BODY_LEN 20u
#define SCP_STATUS_BODY_LEN 24u
#define SCP_BACKLOG_REPLY_BODY_LEN 8u
#define SCP_EVENT_BODY_LEN 17u
#define SCP_LOG_HEADER_LEN 9u /* t_us u64, level u8, then UTF-8 text */

/* ------------------------------------------------------------------ frame types */
#define SCP_TYPE_GET_INFO 0x01u
#define SCP_TYPE_GET_CONFIG 0x02u
#define SCP_TYPE_SET_CONFIG 0x03u
#define SCP_TYPE_START 0x04u
#define SCP_TYPE_STOP 0x05u
#define SCP_TYPE_TIME_SYNC 0x06u
#define SCP_TYPE_GET_STATUS 0x07u
#define SCP_TYPE_IDENTIFY 0x08u
#define SCP_TYPE_READ_BACKLOG 0x09u
#define SCP_TYPE_IMU6 0x10u         /* live data */
#define SCP_TYPE_IMU6_BACKLOG 0x11u /* data replayed from device memory */
#define SCP_TYPE_STATUS 0x20u       /* telemetry, 1 Hz */
#define SCP_TYPE_EVENT 0x21u
#define SCP_TYPE_LOG 0x22u
#define SCP_REPLY_TYPE(cmd) ((uint8_t)((cmd) | SCP_REPLY_BIT))

/* ------------------------------------------------------------------ reply status codes */
#define SCP_STATUS_OK 0u
#define SCP_STATUS_UNKNOWN_TYPE 1u
#define SCP_STATUS_BAD_LENGTH 2u
#define SCP_STATUS_BAD_PARAMETER 3u
#define SCP_STATUS_INVALID_STATE 4u
#define SCP_STATUS_UNSUPPORTED 5u
#define SCP_STATUS_BUSY 6u

/* ------------------------------------------------------------------ flag and enum values */
/* GET_INFO reply: capabilities u32 */
#define SCP_CAP_BACKLOG (1u << 0) /* READ_BACKLOG and type 0x11 frames */
#define SCP_CAP_TIME_SYNC (1u << 1)
#define SCP_CAP_IDENTIFY (1u << 2)
#define SCP_CAP_BATTERY (1u << 3)
/* STATUS: flags u8 */
#define SCP_STATUS_FLAG_CHARGING (1u << 0)
#define SCP_STATUS_FLAG_LOW_BATTERY (1u << 1)
#define SCP_STATUS_FLAG_CLIPPED (1u << 2) /* a sample hit the range since the last STATUS */
#define SCP_STATUS_FLAG_STREAMING (1u << 3)
#define SCP_STATUS_FLAG_BACKLOG_AVAILABLE (1u << 4)
/* START / STOP: stream_mask u8 and flags u8 */
#define SCP_STREAM_IMU6 (1u << 0)
#define SCP_STREAM_STATUS (1u << 1)
#define SCP_START_FLAG_RESUME (1u << 0) /* keep sample_idx counting */
/* GET_INFO reply: placement u8 */
#define SCP_PLACEMENT_UNKNOWN 0u
#define SCP_PLACEMENT_LEFT_FOOT 1u
#define SCP_PLACEMENT_RIGHT_FOOT 2u
#define SCP_PLACEMENT_LEFT_SHIN 3u
#define SCP_PLACEMENT_RIGHT_SHIN 4u
#define SCP_PLACEMENT_LEFT_THIGH 5u
#define SCP_PLACEMENT_RIGHT_THIGH 6u
#define SCP_PLACEMENT_PELVIS 7u
/* EVENT: kind u8 */
#define SCP_EVENT_BUTTON 1u
#define SCP_EVENT_RESUMED 2u /* streaming resumed after a link loss; value = samples buffered */
/* LOG: level u8 (Python logging levels) */
#define SCP_LOG_DEBUG 10u
#define SCP_LOG_INFO 20u
#define SCP_LOG_WARNING 30u
#define SCP_LOG_ERROR 40u

/* ------------------------------------------------------------------ body structs
 * Plain C structs for the caller's convenience only: they are never copied to the wire as
 * they are; the *_body() functions serialise them field by field. */

/* GET_INFO reply body, 33 B: <BBBHB8sB12sIH */
struct scp_info {
    uint8_t proto_minor;
    uint8_t fw_major;
    uint8_t fw_minor;
    uint16_t fw_patch;
    uint8_t hw_rev;
    uint8_t uid[8];
    uint8_t placement;    /* SCP_PLACEMENT_* */
    char imu_part[12];    /* ASCII, NUL padded (not necessarily NUL terminated) */
    uint32_t capabilities; /* SCP_CAP_* */
    uint16_t max_frame_len;
};

/* GET_CONFIG / SET_CONFIG reply body, 18 B: <HBHBBffbbb */
struct scp_config {
    uint16_t odr_hz;
    uint8_t acc_range_g;
    uint16_t gyro_range_dps;
    uint8_t n_max;
    uint8_t cfg_id;
    float acc_scale_mps2;   /* m/s^2 per count */
    float gyro_scale_radps; /* rad/s per count */
    int8_t axis_map[3];     /* housing x, y, z: signed 1-based chip axis; 1, 2, 3 = identity */
};

/* STATUS (0x20) payload and GET_STATUS reply body, 24 B: <QHBBIIHh */
struct scp_status {
    uint64_t t_us;
    uint16_t battery_mv;
    uint8_t soc_pct;
    uint8_t flags;          /* SCP_STATUS_FLAG_* */
    uint32_t fifo_overruns; /* samples lost in the IMU FIFO since START, cumulative */
    uint32_t tx_drops;      /* frames dropped from the transmit queue since START */
    uint16_t mtu;           /* negotiated ATT MTU, 0 on serial */
    int16_t temp_centi_c;   /* 0.01 degC */
};

/* ------------------------------------------------------------------ CRC */
/* CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, not reflected, xorout 0) of data. */
uint16_t scp_crc16(const uint8_t *data, size_t len);
/* Continue a CRC: scp_crc16(ab) == scp_crc16_update(scp_crc16(a), b). Start with 0xFFFF. */
uint16_t scp_crc16_update(uint16_t crc, const uint8_t *data, size_t len);

/* ------------------------------------------------------------------ COBS / serial */
/* COBS-encode `in` (no delimiter appended). Returns the encoded length, 0 if out_cap is too
 * small. `in` and `out` must not overlap. out_cap >= SCP_COBS_MAX_ENCODED(len) always
 * suffices. A run of exactly 254 non-zero bytes at the end is not followed by a 0x01 code
 * (same as the Python reference and cobs-python). */
size_t scp_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap);
/* Serial framing: COBS(frame) + 0x00. Returns the total length, 0 if out_cap is too small.
 * out_cap >= SCP_SERIAL_MAX_LEN(len) always suffices. */
size_t scp_serial_encode(const uint8_t *frame, size_t len, uint8_t *out, size_t out_cap);

/* ------------------------------------------------------------------ frames */
/* Header (version 0x01, type, seq LE) + payload + CRC LE into `out`. `payload` may be NULL
 * when payload_len is 0 and may point into `out` (e.g. out + SCP_HEADER_LEN). Returns
 * 6 + payload_len, or 0 if out_cap is too small or the frame would exceed 3080 B. */
size_t scp_frame_encode(uint8_t type, uint16_t seq, const uint8_t *payload, size_t payload_len,
                        uint8_t *out, size_t out_cap);

/* IMU6 data frame (type 0x10, or 0x11 if backlog != 0) with n (1..255) samples of
 * ax ay az gx gy gz raw counts. t_us is the device time of the first sample, sample_idx its
 * index since START. Returns 20 + 12 n, or 0 (n == 0, or out_cap too small).
 * ISO C before C23 does not convert int16_t (*)[6] to const int16_t (*)[6] implicitly
 * (gcc -Wpedantic warns): pass a non-const buffer as SCP_SAMPLES(buf). */
size_t scp_imu6_encode(uint16_t seq, uint64_t t_us, uint32_t sample_idx, uint8_t cfg_id,
                       const int16_t (*samples)[6], uint8_t n, int backlog, uint8_t *out,
                       size_t out_cap);

/* Samples per IMU6 frame for one BLE notification at this ATT MTU: (mtu - 23) / 12, capped
 * at 255; 0 if the MTU is too small for even one sample (mtu < 35). */
uint8_t scp_imu6_n_for_mtu(uint16_t mtu);

/* Reply frame to command `cmd`: type cmd | 0x80, payload req_id, status, body. Error replies
 * (status != SCP_STATUS_OK) carry no body: pass body_len 0. `body` may point into `out`
 * (e.g. out + SCP_REPLY_BODY_OFFSET). Returns the frame length or 0. */
size_t scp_reply_encode(uint8_t cmd, uint16_t seq, uint8_t req_id, uint8_t status,
                        const uint8_t *body, size_t body_len, uint8_t *out, size_t out_cap);

/* STATUS (0x20) telemetry frame. Returns 30 or 0. */
size_t scp_status_encode(uint16_t seq, const struct scp_status *st, uint8_t *out,
                         size_t out_cap);

/* EVENT (0x21) telemetry frame. Returns 23 or 0. */
size_t scp_event_encode(uint16_t seq, uint64_t t_us, uint32_t sample_idx, uint8_t kind,
                        int32_t value, uint8_t *out, size_t out_cap);

/* LOG (0x22) telemetry frame: t_us, level, then text_len bytes of UTF-8 (no NUL). Returns
 * the frame length or 0 (too long for 3080 B or out_cap too small). */
size_t scp_log_encode(uint16_t seq, uint64_t t_us, uint8_t level, const char *text,
                      size_t text_len, uint8_t *out, size_t out_cap);

/* ------------------------------------------------------------------ bodies
 * Each writes one body into `out` and returns its length (the SCP_*_LEN above), or 0 if
 * out_cap is too small. Use the result as the `body` of scp_reply_encode() (or the payload of
 * scp_frame_encode() for telemetry). */
size_t scp_info_body(const struct scp_info *info, uint8_t *out, size_t out_cap);
size_t scp_config_body(const struct scp_config *cfg, uint8_t *out, size_t out_cap);
size_t scp_status_body(const struct scp_status *st, uint8_t *out, size_t out_cap);
/* START reply: where the stream (re)starts: next sample_idx, device time now, cfg_id. */
size_t scp_start_reply_body(uint32_t sample_idx, uint64_t t_us, uint8_t cfg_id, uint8_t *out,
                            size_t out_cap);
/* TIME_SYNC reply: the request's token, device us at receipt and at transmission. */
size_t scp_time_sync_reply_body(uint32_t token, uint64_t t_rx_us, uint64_t t_tx_us,
                                uint8_t *out, size_t out_cap);
/* READ_BACKLOG reply: the sample range that follows as type 0x11 frames. */
size_t scp_backlog_reply_body(uint32_t first_idx, uint32_t count, uint8_t *out,
                              size_t out_cap);

/* ------------------------------------------------------------------ little-endian helpers
 * Exposed for callers that build their own bodies. Each writes to p[0..] and returns the
 * number of bytes written. */
size_t scp_put_u16le(uint8_t *p, uint16_t v);
size_t scp_put_u32le(uint8_t *p, uint32_t v);
size_t scp_put_u64le(uint8_t *p, uint64_t v);
size_t scp_put_f32le(uint8_t *p, float v);

#ifdef __cplusplus
}
#endif

#endif /* STRIDECORE_PROTO_H */
