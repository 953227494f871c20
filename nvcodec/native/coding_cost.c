/* The grids' coding-cost proxy (nvcodec/fit/regularize.py) and its gradient in one pass over a
 * grid level: weighted sums of |differences| of neighbouring values along rows (y), columns
 * (x) and consecutive GOPs (t), and for every value the derivative of that sum.
 *
 * Through autograd the proxy was ~15 tensor passes per level and direction, with as many
 * temporaries: a step that added it took ~35 ms more than one that did not at 720p, 0.1 bpp
 * (benchmarks/RESULTS.md, eighteenth session). Here each output value is a stencil of its six
 * neighbours, written once.
 *
 * The derivative of |d| is sign(d), 0 at d = 0, as torch's abs. A value's gradient adds its
 * terms in a fixed order (y, x, t; lower neighbour, then upper), and the sum of |d| runs in a
 * fixed lane order on vectors of 8 floats (GCC/clang vector extensions), so the results do not
 * depend on the vector width the compiler picks. Built with -ffp-contract=off.
 */
#include <stdint.h>
#include <string.h>

#define VL 8
typedef float vf __attribute__((vector_size(4 * VL)));
typedef int32_t vi __attribute__((vector_size(4 * VL)));

static inline vf vload(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void vstore(float *p, vf v) { memcpy(p, &v, sizeof v); }

static inline vf vsplat(float x) { return x - (vf){0}; }

/* sign(d): 1, -1 or 0 in every lane */
static inline vf vsign(vf d)
{
    const vi one = (vi)vsplat(1.0f);
    return (vf)((d > 0.0f) & one) - (vf)((d < 0.0f) & one);
}

static inline vf vabs(vf d) { return (vf)((vi)d & 0x7fffffff); }

static inline float sign1(float d) { return (float)(d > 0.0f) - (float)(d < 0.0f); }

static inline float abs1(float d) { return d < 0.0f ? -d : d; }

/* The gradient of value j of a row (see row_cost) from the differences to its neighbours in
 * the fixed order y, x, t (lower neighbour, then upper); the left neighbour only where j has
 * one. Adds the weighted |d| to the next row, GOP and column into *tail. */
static inline float scalar_cost(const float *restrict row, const float *restrict up, const float *restrict down,
                                const float *restrict prev, const float *restrict next, int64_t j, int64_t L,
                                int64_t C, float ay, float ax, float at, float *tail)
{
    const float v = row[j];
    const float dy = down[j] - v, dt = next[j] - v, dx = j + C < L ? row[j + C] - v : 0.0f;
    float g = ay * sign1(v - up[j]);
    g = g - ay * sign1(dy);
    if (j >= C)
        g = g + ax * sign1(v - row[j - C]);
    g = g - ax * sign1(dx);
    g = g + at * sign1(v - prev[j]);
    g = g - at * sign1(dt);
    *tail = *tail + (ay * abs1(dy) + ax * abs1(dx) + at * abs1(dt));
    return g;
}

/* One row of L = W C values, its neighbours' rows (up/down along y, prev/next along t; a
 * missing neighbour is the row itself, whose differences are 0) and the weights ay, ax, at of
 * the three directions. Writes the row's gradient; adds the weighted |d| of the differences to
 * the next row, the next GOP and the next column into the lanes of *acc, *tail. */
static void row_cost(const float *restrict row, const float *restrict up, const float *restrict down,
                     const float *restrict prev, const float *restrict next, int64_t L, int64_t C, float ay,
                     float ax, float at, float *restrict grad, vf *acc, float *tail)
{
    const vf vy = vsplat(ay), vx = vsplat(ax), vt = vsplat(at);
    int64_t j = 0;
    /* the first column: no left neighbour */
    for (; j < C && j < L; j++)
        grad[j] = scalar_cost(row, up, down, prev, next, j, L, C, ay, ax, at, tail);
    /* the interior: both column neighbours, eight values at a time */
    for (; j + VL <= L - C; j += VL) {
        const vf v = vload(row + j);
        const vf dy = vload(down + j) - v, dt = vload(next + j) - v, dx = vload(row + j + C) - v;
        vf g = vy * vsign(v - vload(up + j));
        g = g - vy * vsign(dy);
        g = g + vx * vsign(v - vload(row + j - C));
        g = g - vx * vsign(dx);
        g = g + vt * vsign(v - vload(prev + j));
        g = g - vt * vsign(dt);
        vstore(grad + j, g);
        *acc = *acc + (vy * vabs(dy) + vx * vabs(dx) + vt * vabs(dt));
    }
    /* the rest: the last column has no right neighbour */
    for (; j < L; j++)
        grad[j] = scalar_cost(row, up, down, prev, next, j, L, C, ay, ax, at, tail);
}

/* A level [N][H][W][C] (channels last, contiguous): returns the sum over its differences of
 * ay |d_y| + ax |d_x| + at |d_t| and writes its derivative with respect to every value into
 * grad (same layout). A zero weight turns its direction off. */
double nvc_coding_cost(int64_t N, int64_t H, int64_t W, int64_t C, const float *g, double ay, double ax, double at,
                       float *grad)
{
    const int64_t L = W * C, plane = H * L;
    double total = 0.0;
    for (int64_t k = 0; k < N; k++) {
        for (int64_t y = 0; y < H; y++) {
            const float *row = g + k * plane + y * L;
            vf acc = {0};
            float tail = 0.0f;
            row_cost(row, y > 0 ? row - L : row, y + 1 < H ? row + L : row, k > 0 ? row - plane : row,
                     k + 1 < N ? row + plane : row, L, C, (float)ay, W > 1 ? (float)ax : 0.0f, (float)at,
                     grad + k * plane + y * L, &acc, &tail);
            double s = tail;
            for (int l = 0; l < VL; l++)
                s += acc[l];
            total += s;
        }
    }
    return total;
}
