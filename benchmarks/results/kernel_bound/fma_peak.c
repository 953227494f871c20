/* This core's vector FMA throughput and clock (twentieth session, kernel_bound.py). Needs AVX-512.
 * throughput: 12 independent chains of fused multiply-adds (enough to cover a 4-cycle latency on
 * two ports); clock: one dependent chain, whose FMAs each wait 4 cycles (Intel since Skylake),
 * so instructions/s x 4 is the clock the vector unit runs at. Their ratio is FMAs per cycle. */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void)
{
    const long n = 200000000;
    __m512 acc[12], b = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(0.001f);
    for (int i = 0; i < 12; i++)
        acc[i] = _mm512_set1_ps((float)i);
    double t = now();
    for (long k = 0; k < n; k++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            acc[i] = _mm512_fmadd_ps(acc[i], b, c);
    }
    t = now() - t;
    float sink = 0.0f;
    for (int i = 0; i < 12; i++)
        sink += acc[i][0];
    const double per_s = n * 12 / t;

    __m512 chain = _mm512_set1_ps(1.0f);
    t = now();
    for (long k = 0; k < n; k++) {
        chain = _mm512_fmadd_ps(chain, b, c);
        chain = _mm512_fmadd_ps(chain, b, c);
    }
    t = now() - t;
    sink += chain[0];
    const double ghz = n * 2 * 4 / t / 1e9;
    printf("512-bit FMA: %.2f G instructions/s (%.0f GFLOP/s fp32), clock %.2f GHz (dependent chain), "
           "%.2f FMAs per cycle (%g)\n", per_s / 1e9, per_s * 32 / 1e9, ghz, per_s / 1e9 / ghz, sink);
    return 0;
}
