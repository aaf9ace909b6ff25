/*
 * stridecore_proto.c - reference C encoder for the stridecore sensor wire protocol v1.
 * See stridecore_proto.h for the API, integration notes and the MTU table.
 *
 * C99; needs only <stdint.h>, <stddef.h> and <string.h> (memcpy, memmove).
 */
#include "stridecore_proto.h"

#include <string.h>

/* Floats go on the wire as IEEE-754 binary32 bit patterns. Every target this is meant for
 * (Cortex-M4F, Xtensa/RISC-V ESP32, x86/ARM hosts) stores float as binary32 with the same
 * byte order as uint32_t; this only checks the size (compile error if it differs). */
typedef char scp_float_is_32_bit[(sizeof(float) == sizeof(uint32_t)) ? 1 : -1];

/* ------------------------------------------------------------------ little-endian writes */
size_t scp_put_u16le(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    return 2;
}

size_t scp_put_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)((v >> 24) & 0xFFu);
    return 4;
}

size_t scp_put_u64le(uint8_t *p, uint64_t v)
{
    scp_put_u32le(p, (uint32_t)(v & 0xFFFFFFFFu));
    scp_put_u32le(p + 4, (uint32_t)(v >> 32));
    return 8;
}

size_t scp_put_f32le(uint8_t *p, float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u); /* bit pattern, no type punning through pointers */
    return scp_put_u32le(p, u);
}

/* Two's complement bytes of a signed value: conversion to unsigned is defined modulo 2^N. */
static size_t put_i16le(uint8_t *p, int16_t v) { return scp_put_u16le(p, (uint16_t)v); }
static size_t put_i32le(uint8_t *p, int32_t v) { return scp_put_u32le(p, (uint32_t)v); }

/* ------------------------------------------------------------------ CRC-16/CCITT-FALSE
 * Bitwise rather than table driven: no 512-byte table in flash, and the cost is small. An
 * IMU6 frame of 236 B takes roughly 236 * 8 * ~5 cycles ~= 10k cycles ~= 150 us on a 64 MHz
 * Cortex-M4; at 416 Hz / 18 samples per frame (23 frames/s) that is well under 1 % CPU.
 * If that matters, swap in a 256-entry table, or Zephyr's crc16_itu_t() (same CRC). */
uint16_t scp_crc16_update(uint16_t crc, const uint8_t *data, size_t len)
{
    size_t i;
    unsigned bit;
    unsigned c = crc; /* unsigned int has at least 16 bits: no signed overflow anywhere */
    for (i = 0; i < len; i++) {
        c ^= (unsigned)data[i] << 8;
        for (bit = 0; bit < 8; bit++) {
            c = (c & 0x8000u) ? ((c << 1) ^ 0x1021u) : (c << 1);
            c &= 0xFFFFu;
        }
    }
    return (uint16_t)c;
}

uint16_t scp_crc16(const uint8_t *data, size_t len)
{
    return scp_crc16_update(0xFFFFu, data, len);
}

/* ------------------------------------------------------------------ COBS */
size_t scp_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap)
{
    size_t i;
    size_t o = 1;        /* next output position */
    size_t code_pos = 0; /* where the current block's code byte goes (reserved, < out_cap) */
    uint8_t code = 1;    /* 1 + bytes in the current block */
    if (out == NULL || out_cap == 0 || (in == NULL && len != 0)) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (in[i] == 0) {
            out[code_pos] = code;
            if (o >= out_cap) {
                return 0;
            }
            code_pos = o++;
            code = 1;
        } else {
            if (o >= out_cap) {
                return 0;
            }
            out[o++] = in[i];
            code++;
            if (code == 0xFF) { /* 254 data bytes: close the block without an implied zero */
                out[code_pos] = code;
                if (i + 1 == len) {
                    return o; /* ended exactly on a full block: no trailing 0x01 code */
                }
                if (o >= out_cap) {
                    return 0;
                }
                code_pos = o++;
                code = 1;
            }
        }
    }
    out[code_pos] = code;
    return o;
}

size_t scp_serial_encode(const uint8_t *frame, size_t len, uint8_t *out, size_t out_cap)
{
    size_t n;
    if (out_cap < 2) {
        return 0;
    }
    n = scp_cobs_encode(frame, len, out, out_cap - 1);
    if (n == 0) {
        return 0;
    }
    out[n] = 0x00;
    return n + 1;
}

/* ------------------------------------------------------------------ frames */
/* Header and CRC around a payload already at out + SCP_HEADER_LEN. */
static size_t finish_frame(uint8_t type, uint16_t seq, uint8_t *out, size_t payload_len)
{
    size_t body = SCP_HEADER_LEN + payload_len;
    out[0] = (uint8_t)SCP_PROTOCOL_VERSION;
    out[1] = type;
    scp_put_u16le(out + 2, seq);
    scp_put_u16le(out + body, scp_crc16(out, body));
    return body + SCP_CRC_LEN;
}

/* True if a frame with this payload length is allowed and fits out_cap. */
static int frame_fits(const uint8_t *out, size_t payload_len, size_t out_cap)
{
    return out != NULL && payload_len <= SCP_MAX_PAYLOAD_LEN
           && payload_len + SCP_MIN_FRAME_LEN <= out_cap;
}

size_t scp_frame_encode(uint8_t type, uint16_t seq, const uint8_t *payload, size_t payload_len,
                        uint8_t *out, size_t out_cap)
{
    if (!frame_fits(out, payload_len, out_cap) || (payload == NULL && payload_len != 0)) {
        return 0;
    }
    if (payload_len != 0 && payload != out + SCP_HEADER_LEN) {
        memmove(out + SCP_HEADER_LEN, payload, payload_len); /* before the header: may overlap */
    }
    return finish_frame(type, seq, out, payload_len);
}

size_t scp_imu6_encode(uint16_t seq, uint64_t t_us, uint32_t sample_idx, uint8_t cfg_id,
                       const int16_t (*samples)[6], uint8_t n, int backlog, uint8_t *out,
                       size_t out_cap)
{
    size_t payload_len = SCP_IMU6_FRAME_LEN(n) - SCP_MIN_FRAME_LEN;
    uint8_t *p;
    unsigned i, k;
    if (n == 0 || samples == NULL || !frame_fits(out, payload_len, out_cap)) {
        return 0;
    }
    p = out + SCP_HEADER_LEN;
    p += scp_put_u64le(p, t_us);
    p += scp_put_u32le(p, sample_idx);
    *p++ = cfg_id;
    *p++ = n;
    for (i = 0; i < n; i++) {
        for (k = 0; k < 6; k++) {
            p += put_i16le(p, samples[i][k]);
        }
    }
    return finish_frame(backlog ? (uint8_t)SCP_TYPE_IMU6_BACKLOG : (uint8_t)SCP_TYPE_IMU6, seq,
                        out, payload_len);
}

uint8_t scp_imu6_n_for_mtu(uint16_t mtu)
{
    unsigned n;
    const unsigned att_overhead = 3u; /* ATT opcode + handle in a notification */
    if (mtu < att_overhead + SCP_IMU6_FRAME_LEN(1)) {
        return 0;
    }
    n = (mtu - att_overhead - SCP_IMU6_OVERHEAD) / SCP_IMU6_BYTES_PER_SAMPLE;
    return (uint8_t)(n > SCP_IMU6_MAX_SAMPLES ? SCP_IMU6_MAX_SAMPLES : n);
}

size_t scp_reply_encode(uint8_t cmd, uint16_t seq, uint8_t req_id, uint8_t status,
                        const uint8_t *body, size_t body_len, uint8_t *out, size_t out_cap)
{
    size_t payload_len = 2 + body_len;
    if (body_len > SCP_MAX_PAYLOAD_LEN || !frame_fits(out, payload_len, out_cap)
        || (body == NULL && body_len != 0)) {
        return 0;
    }
    if (body_len != 0 && body != out + SCP_REPLY_BODY_OFFSET) {
        memmove(out + SCP_REPLY_BODY_OFFSET, body, body_len);
    }
    out[SCP_HEADER_LEN] = req_id;
    out[SCP_HEADER_LEN + 1] = status;
    return finish_frame(SCP_REPLY_TYPE(cmd), seq, out, payload_len);
}

size_t scp_status_encode(uint16_t seq, const struct scp_status *st, uint8_t *out,
                         size_t out_cap)
{
    if (st == NULL || !frame_fits(out, SCP_STATUS_BODY_LEN, out_cap)) {
        return 0;
    }
    scp_status_body(st, out + SCP_HEADER_LEN, SCP_STATUS_BODY_LEN);
    return finish_frame(SCP_TYPE_STATUS, seq, out, SCP_STATUS_BODY_LEN);
}

size_t scp_event_encode(uint16_t seq, uint64_t t_us, uint32_t sample_idx, uint8_t kind,
                        int32_t value, uint8_t *out, size_t out_cap)
{
    uint8_t *p;
    if (!frame_fits(out, SCP_EVENT_BODY_LEN, out_cap)) {
        return 0;
    }
    p = out + SCP_HEADER_LEN;
    p += scp_put_u64le(p, t_us);
    p += scp_put_u32le(p, sample_idx);
    *p++ = kind;
    put_i32le(p, value);
    return finish_frame(SCP_TYPE_EVENT, seq, out, SCP_EVENT_BODY_LEN);
}

size_t scp_log_encode(uint16_t seq, uint64_t t_us, uint8_t level, const char *text,
                      size_t text_len, uint8_t *out, size_t out_cap)
{
    uint8_t *p;
    if (text_len > SCP_MAX_PAYLOAD_LEN - SCP_LOG_HEADER_LEN
        || !frame_fits(out, SCP_LOG_HEADER_LEN + text_len, out_cap)
        || (text == NULL && text_len != 0)) {
        return 0;
    }
    p = out + SCP_HEADER_LEN;
    if (text_len != 0) {
        memmove(p + SCP_LOG_HEADER_LEN, text, text_len); /* first: text may sit in out */
    }
    p += scp_put_u64le(p, t_us);
    *p = level;
    return finish_frame(SCP_TYPE_LOG, seq, out, SCP_LOG_HEADER_LEN + text_len);
}

/* ------------------------------------------------------------------ bodies */
size_t scp_info_body(const struct scp_info *info, uint8_t *out, size_t out_cap)
{
    uint8_t *p = out;
    if (info == NULL || out == NULL || out_cap < SCP_INFO_BODY_LEN) {
        return 0;
    }
    *p++ = info->proto_minor;
    *p++ = info->fw_major;
    *p++ = info->fw_minor;
    p += scp_put_u16le(p, info->fw_patch);
    *p++ = info->hw_rev;
    memcpy(p, info->uid, 8);
    p += 8;
    *p++ = info->placement;
    memcpy(p, info->imu_part, 12);
    p += 12;
    p += scp_put_u32le(p, info->capabilities);
    scp_put_u16le(p, info->max_frame_len);
    return SCP_INFO_BODY_LEN;
}

size_t scp_config_body(const struct scp_config *cfg, uint8_t *out, size_t out_cap)
{
    uint8_t *p = out;
    unsigned k;
    if (cfg == NULL || out == NULL || out_cap < SCP_CONFIG_BODY_LEN) {
        return 0;
    }
    p += scp_put_u16le(p, cfg->odr_hz);
    *p++ = cfg->acc_range_g;
    p += scp_put_u16le(p, cfg->gyro_range_dps);
    *p++ = cfg->n_max;
    *p++ = cfg->cfg_id;
    p += scp_put_f32le(p, cfg->acc_scale_mps2);
    p += scp_put_f32le(p, cfg->gyro_scale_radps);
    for (k = 0; k < 3; k++) {
        *p++ = (uint8_t)cfg->axis_map[k]; /* two's complement, defined modulo 256 */
    }
    return SCP_CONFIG_BODY_LEN;
}

size_t scp_status_body(const struct scp_status *st, uint8_t *out, size_t out_cap)
{
    uint8_t *p = out;
    if (st == NULL || out == NULL || out_cap < SCP_STATUS_BODY_LEN) {
        return 0;
    }
    p += scp_put_u64le(p, st->t_us);
    p += scp_put_u16le(p, st->battery_mv);
    *p++ = st->soc_pct;
    *p++ = st->flags;
    p += scp_put_u32le(p, st->fifo_overruns);
    p += scp_put_u32le(p, st->tx_drops);
    p += scp_put_u16le(p, st->mtu);
    put_i16le(p, st->temp_centi_c);
    return SCP_STATUS_BODY_LEN;
}

size_t scp_start_reply_body(uint32_t sample_idx, uint64_t t_us, uint8_t cfg_id, uint8_t *out,
                            size_t out_cap)
{
    if (out == NULL || out_cap < SCP_START_REPLY_BODY_LEN) {
        return 0;
    }
    scp_put_u32le(out, sample_idx);
    scp_put_u64le(out + 4, t_us);
    out[12] = cfg_id;
    return SCP_START_REPLY_BODY_LEN;
}

size_t scp_time_sync_reply_body(uint32_t token, uint64_t t_rx_us, uint64_t t_tx_us,
                                uint8_t *out, size_t out_cap)
{
    if (out == NULL || out_cap < SCP_TIME_SYNC_REPLY_BODY_LEN) {
        return 0;
    }
    scp_put_u32le(out, token);
    scp_put_u64le(out + 4, t_rx_us);
    scp_put_u64le(out + 12, t_tx_us);
    return SCP_TIME_SYNC_REPLY_BODY_LEN;
}

size_t scp_backlog_reply_body(uint32_t first_idx, uint32_t count, uint8_t *out,
                              size_t out_cap)
{
    if (out == NULL || out_cap < SCP_BACKLOG_REPLY_BODY_LEN) {
        return 0;
    }
    scp_put_u32le(out, first_idx);
    scp_put_u32le(out + 4, count);
    return SCP_BACKLOG_REPLY_BODY_LEN;
}
