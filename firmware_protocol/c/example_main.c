/*
 * example_main.c - host demo of stridecore_proto: writes a device->host byte stream to stdout.
 *
 *   cc -std=c99 -Wall -Wextra -Wpedantic -Werror -O2 stridecore_proto.c example_main.c \
 *      -o scp_example
 *   ./scp_example [N [raw]] > stream.bin
 *
 * The stream, one frame after another:
 *   1. GET_CONFIG reply: seq 0x0101, req_id 1, status 0, odr 416 Hz, +-16 g, +-2000 dps,
 *      n_max 18, cfg_id 1, acc_scale = (float)(16 * 9.80665 / 32768),
 *      gyro_scale = (float)(2000 * pi / 180 / 32768), axis map 1, 2, 3.
 *      (seq 0x0101 rather than 0 so that the device's seq runs on without a gap into the
 *      worked example's 0x0102: a decoder then sees no lost frames.)
 *   2. The worked example of protocol-v1.md: seq 0x0102, t_us 1 000 000, sample_idx 416,
 *      cfg_id 1, samples (0,0,2048,0,0,0) and (1,-1,2049,10,-10,0).
 *   3. N IMU6 frames (default 100), k = 0..N-1: seq 0x0103 + k (mod 2^16),
 *      sample_idx = 418 + 18 k, n = 18, cfg_id 1,
 *      t_us = sample_idx * 1000000 / 416 (uint64, integer division: truncated, never
 *      accumulates rounding; it advances 18e6/416 = 43269.23 us per frame on average and
 *      agrees with the worked example's t_us 1 000 000 at sample_idx 416).
 *      Samples come from the LCG below, 6 values per sample in order ax ay az gx gy gz.
 *   4. A STATUS frame: seq next, t_us = t_us(next sample_idx), 3987 mV, 87 %, flags
 *      STREAMING, 0 FIFO overruns, 0 transmit drops, MTU 0 (serial), -5.23 degC.
 *
 * Output: serial framing (COBS(frame) + 0x00 per frame) by default; with "raw" as the second
 * argument each plain frame preceded by its length as u16 little-endian.
 *
 * LCG: state = state * 1664525 + 1013904223 (mod 2^32), starting from state = 12345;
 * each value is (state >> 16) - 32768 taken after the step, i.e. in [-32768, 32767].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stridecore_proto.h"

#define ODR_HZ 416u
#define N_PER_FRAME 18u
#define CFG_ID 1u
#define LCG_SEED 12345u
#define PI_D 3.14159265358979323846

static uint32_t lcg_state = LCG_SEED;

static int16_t lcg_next(void)
{
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return (int16_t)((int32_t)(lcg_state >> 16) - 32768);
}

static uint64_t t_us_of(uint32_t sample_idx)
{
    return (uint64_t)sample_idx * 1000000u / ODR_HZ;
}

static int raw_mode = 0;

/* Write one frame in the selected framing; 0 on success. */
static int emit(const uint8_t *frame, size_t len)
{
    uint8_t line[SCP_SERIAL_MAX_LEN(SCP_MAX_FRAME_LEN)];
    size_t m;
    if (len == 0) {
        fputs("encoder returned 0\n", stderr);
        return 1;
    }
    if (raw_mode) {
        uint8_t hdr[2];
        scp_put_u16le(hdr, (uint16_t)len);
        return fwrite(hdr, 1, 2, stdout) != 2 || fwrite(frame, 1, len, stdout) != len;
    }
    m = scp_serial_encode(frame, len, line, sizeof line);
    if (m == 0) {
        fputs("serial encoder returned 0\n", stderr);
        return 1;
    }
    return fwrite(line, 1, m, stdout) != m;
}

int main(int argc, char **argv)
{
    static const int16_t worked[2][6] = {{0, 0, 2048, 0, 0, 0}, {1, -1, 2049, 10, -10, 0}};
    uint8_t frame[SCP_MAX_FRAME_LEN];
    int16_t samples[N_PER_FRAME][6];
    struct scp_config cfg;
    struct scp_status st;
    unsigned long n_frames = 100;
    unsigned long k;
    uint16_t seq = 0x0101;
    uint32_t idx = 416;
    size_t len;
    unsigned i, a;

    if (argc > 1) {
        char *end;
        n_frames = strtoul(argv[1], &end, 10);
        if (*argv[1] == '\0' || *end != '\0' || n_frames > 10000000ul) {
            fprintf(stderr, "usage: %s [N [raw]]\n", argv[0]);
            return 2;
        }
    }
    if (argc > 2) {
        if (strcmp(argv[2], "raw") != 0) {
            fprintf(stderr, "usage: %s [N [raw]]\n", argv[0]);
            return 2;
        }
        raw_mode = 1;
    }

    /* 1. GET_CONFIG reply, body built in place (zero copy) */
    cfg.odr_hz = ODR_HZ;
    cfg.acc_range_g = 16;
    cfg.gyro_range_dps = 2000;
    cfg.n_max = N_PER_FRAME;
    cfg.cfg_id = CFG_ID;
    cfg.acc_scale_mps2 = (float)(16.0 * 9.80665 / 32768.0);
    cfg.gyro_scale_radps = (float)(2000.0 * PI_D / 180.0 / 32768.0);
    cfg.axis_map[0] = 1;
    cfg.axis_map[1] = 2;
    cfg.axis_map[2] = 3;
    len = scp_config_body(&cfg, frame + SCP_REPLY_BODY_OFFSET,
                          sizeof frame - SCP_REPLY_BODY_OFFSET);
    len = scp_reply_encode(SCP_TYPE_GET_CONFIG, seq++, 1, SCP_STATUS_OK,
                           frame + SCP_REPLY_BODY_OFFSET, len, frame, sizeof frame);
    if (emit(frame, len)) {
        return 1;
    }

    /* 2. the worked example */
    len = scp_imu6_encode(seq++, 1000000u, idx, CFG_ID, worked, 2, 0, frame, sizeof frame);
    idx += 2;
    if (emit(frame, len)) {
        return 1;
    }

    /* 3. N IMU6 frames */
    for (k = 0; k < n_frames; k++) {
        for (i = 0; i < N_PER_FRAME; i++) {
            for (a = 0; a < 6; a++) {
                samples[i][a] = lcg_next();
            }
        }
        len = scp_imu6_encode(seq++, t_us_of(idx), idx, CFG_ID, SCP_SAMPLES(samples),
                              N_PER_FRAME, 0, frame, sizeof frame);
        idx += N_PER_FRAME;
        if (emit(frame, len)) {
            return 1;
        }
    }

    /* 4. STATUS */
    st.t_us = t_us_of(idx);
    st.battery_mv = 3987;
    st.soc_pct = 87;
    st.flags = SCP_STATUS_FLAG_STREAMING;
    st.fifo_overruns = 0;
    st.tx_drops = 0;
    st.mtu = 0;
    st.temp_centi_c = -523;
    len = scp_status_encode(seq++, &st, frame, sizeof frame);
    if (emit(frame, len)) {
        return 1;
    }
    return fflush(stdout) != 0;
}
