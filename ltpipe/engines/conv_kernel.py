"""The first convolution of k stacked networks as a compiled CPU kernel (LLVM IR through llvmlite).

A network's first convolution reads one input channel; k of them stacked
(:class:`ltpipe.engines.stacked.StackedNet`) are a grouped convolution with
one input channel per group, which oneDNN runs far below its speed on other
shapes (``ONEDNN_VERBOSE``: its ``jit:avx512_core`` kernels hold a group's
weights in 16 x 16 blocks, ``aBCde16c16b``, so a group's 6 output channels
and its one input channel are padded to 16: for six LeNet-5s 1.16-1.29 ms
forward and 1.80-1.98 ms for the weight gradient, batch 60, one thread).
Here the k networks' pixels sit side by side in one row of the input
(B, H + 2p, W + 2p, L) (zero padding, L = 8 or 16 lanes, the ones after the
k pixels zero), and each output pixel's k c channels, held in
vectors of 16, take their network's pixel by one lane permutation per vector
and per tap: the forward pass keeps four output pixels' accumulators in
registers (each weight vector loaded serves four), and writes them
channels-last (B, H, W, k c), as the pooling after it reads them; the weight
and bias gradients keep one row of taps' accumulators over the whole batch.
The same six LeNet-5s: 0.65 ms forward (its input copy included) and 0.61 ms
for the gradients (``bench/conv.py``, BENCHMARKS.md).

The IR is generated for each shape (k, c, kernel size, padding, H, W) and
compiled for the host's processor by LLVM (llvmlite, numba's backend, so no
C compiler is needed) once per process. Used where the host has AVX-512
(:func:`available`); elsewhere, and on CUDA, the grouped convolution runs.

Rounding: every output sums its taps in one fixed order, and every weight
gradient entry its batch in sample order, so the numbers do not depend on
the thread count; they differ from oneDNN's in the last bits (another order).
"""

from __future__ import annotations

import ctypes
import functools
import math
import threading

import torch

__all__ = ["FirstConv", "available", "kernels"]

_lock = threading.Lock()


@functools.cache
def available() -> bool:
    """Whether the kernels can run here: llvmlite importable and a processor with AVX-512."""
    try:
        import llvmlite.binding as llvm
    except ImportError:
        return False
    if not hasattr(llvm, "create_pass_builder"):  # llvmlite before 0.44: no new pass manager
        return False
    features = llvm.get_host_cpu_features()
    return bool(features.get("avx512f", False))


def _vectors(k: int, c: int) -> tuple[int, int]:
    """(vectors of 16 that hold the k c channels, input lanes per pixel: the k pixels, then at least one zero)."""
    return math.ceil(k * c / 16), 8 if k < 8 else 16


def _loop(b, n, body):
    """``for i in range(n): body(i)`` in IR (``n`` an i64 constant or value)."""
    import llvmlite.ir as ir

    i64 = ir.IntType(64)
    pre = b.block
    head, inner, done = b.append_basic_block("head"), b.append_basic_block("body"), b.append_basic_block("done")
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(i64)
    i.add_incoming(ir.Constant(i64, 0), pre)
    b.cbranch(b.icmp_signed("<", i, n), inner, done)
    b.position_at_end(inner)
    body(i)
    i.add_incoming(b.add(i, ir.Constant(i64, 1)), b.block)
    b.branch(head)
    b.position_at_end(done)


def _module(k: int, c: int, ks: int, pad: int, h: int, w: int) -> str:
    """LLVM IR of ``fwd(xin, weight, bias, out, B)`` and ``bwdw(xin, gout, gweight, gbias, B)``.

    xin (B, h + 2 pad, w + 2 pad, lanes); weight and gweight (ks * ks, 16 nv), tap-major, channel g c + j of
    network g at lane g c + j (zero past k c); bias and gbias (16 nv); out and gout (B, ho, wo, k c)."""
    import llvmlite.ir as ir

    ch = k * c
    nv, lanes = _vectors(k, c)
    hp, wp = h + 2 * pad, w + 2 * pad
    ho, wo = hp - ks + 1, wp - ks + 1
    xblock = next(q for q in (4, 2, 1) if wo % q == 0)  # output pixels whose accumulators stay in registers
    f32, i32, i64 = ir.FloatType(), ir.IntType(32), ir.IntType(64)
    v16, vl = ir.VectorType(f32, 16), ir.VectorType(f32, lanes)
    tail = ch - 16 * (nv - 1)
    vt = ir.VectorType(f32, tail)
    # lane l of vector j holds channel 16 j + l, whose network's pixel is lane (16 j + l) // c of the input
    masks = [
        ir.Constant(ir.VectorType(i32, 16), [(16 * j + q) // c if 16 * j + q < ch else lanes - 1 for q in range(16)])
        for j in range(nv)
    ]
    mod = ir.Module(name=f"first_conv_k{k}_c{c}_{ks}x{ks}_p{pad}_{h}x{w}")
    fma = ir.Function(mod, ir.FunctionType(v16, [v16, v16, v16]), name="llvm.fma.v16f32")
    ptr = ir.PointerType(f32)
    sig = ir.FunctionType(ir.VoidType(), [ptr, ptr, ptr, ptr, i64])
    undef_l = ir.Constant(vl, ir.Undefined)

    def c64(v):
        return ir.Constant(i64, v)

    def load(b, base, off, ty):
        return b.load(b.bitcast(b.gep(base, [off]), ir.PointerType(ty)), align=4)

    def store(b, val, base, off):
        b.store(val, b.bitcast(b.gep(base, [off]), ir.PointerType(val.type)), align=4)

    def pixel(b, bi, y, x, height, width, depth):  # offset of (bi, y, x, 0) in a (B, height, width, depth) array
        return b.mul(b.add(b.mul(b.add(b.mul(bi, c64(height)), y), c64(width)), x), c64(depth))

    # forward
    f = ir.Function(mod, sig, name="fwd")
    xin, weight, bias, out, nb = f.args
    b = ir.IRBuilder(f.append_basic_block("entry"))
    bias_v = [load(b, bias, c64(16 * j), v16) for j in range(nv)]

    def fwd_b(bi):
        def fwd_y(y):
            def fwd_x(xb):
                x0 = b.mul(xb, c64(xblock))
                acc = [list(bias_v) for _ in range(xblock)]
                for dy in range(ks):
                    row = pixel(b, bi, b.add(y, c64(dy)), x0, hp, wp, lanes)
                    for dx in range(ks):
                        wv = [load(b, weight, c64((dy * ks + dx) * 16 * nv + 16 * j), v16) for j in range(nv)]
                        for p in range(xblock):
                            v = load(b, xin, b.add(row, c64((p + dx) * lanes)), vl)
                            for j in range(nv):
                                acc[p][j] = b.call(fma, [wv[j], b.shuffle_vector(v, undef_l, masks[j]), acc[p][j]])
                for p in range(xblock):
                    o = pixel(b, bi, y, b.add(x0, c64(p)), ho, wo, ch)
                    for j in range(nv - 1):
                        store(b, acc[p][j], out, b.add(o, c64(16 * j)))
                    last = b.shuffle_vector(acc[p][nv - 1], ir.Constant(v16, ir.Undefined),
                                            ir.Constant(ir.VectorType(i32, tail), list(range(tail))))  # fmt: skip
                    store(b, last, out, b.add(o, c64(16 * (nv - 1))))

            _loop(b, c64(wo // xblock), fwd_x)

        _loop(b, c64(ho), fwd_y)

    _loop(b, nb, fwd_b)
    b.ret_void()

    # weight and bias gradients: one row of taps (ks nv accumulators) per pass over the batch
    f = ir.Function(mod, sig, name="bwdw")
    xin, gout, gweight, gbias, nb = f.args
    b = ir.IRBuilder(f.append_basic_block("entry"))
    zero = ir.Constant(v16, [0.0] * 16)
    widen = ir.Constant(ir.VectorType(i32, 16), [q if q < tail else tail for q in range(16)])  # then zeros
    slots = [[[b.alloca(v16) for _ in range(nv)] for _ in range(ks)] for _ in range(ks)]  # promoted to registers
    bias_slots = [b.alloca(v16) for _ in range(nv)]
    for dy in range(ks):
        for s in [s for per_dx in slots[dy] for s in per_dx] + (bias_slots if dy == 0 else []):
            b.store(zero, s)

        def bwd_b(bi, dy=dy):
            def bwd_y(y):
                def bwd_x(x):
                    g = pixel(b, bi, y, x, ho, wo, ch)
                    gv = [load(b, gout, b.add(g, c64(16 * j)), v16) for j in range(nv - 1)]
                    last = load(b, gout, b.add(g, c64(16 * (nv - 1))), vt)
                    gv.append(b.shuffle_vector(last, ir.Constant(vt, [0.0] * tail), widen))
                    if dy == 0:
                        for j in range(nv):
                            b.store(b.fadd(b.load(bias_slots[j]), gv[j]), bias_slots[j])
                    row = pixel(b, bi, b.add(y, c64(dy)), x, hp, wp, lanes)
                    for dx in range(ks):
                        v = load(b, xin, b.add(row, c64(dx * lanes)), vl)
                        for j in range(nv):
                            s = slots[dy][dx][j]
                            b.store(b.call(fma, [gv[j], b.shuffle_vector(v, undef_l, masks[j]), b.load(s)]), s)

                _loop(b, c64(wo), bwd_x)

            _loop(b, c64(ho), bwd_y)

        _loop(b, nb, bwd_b)
        for dx in range(ks):
            for j in range(nv):
                store(b, b.load(slots[dy][dx][j]), gweight, c64((dy * ks + dx) * 16 * nv + 16 * j))
        if dy == 0:
            for j in range(nv):
                store(b, b.load(bias_slots[j]), gbias, c64(16 * j))
    b.ret_void()
    return str(mod)


_engines: list = []  # compiled modules live as long as the process


@functools.cache
def kernels(k: int, c: int, ks: int, pad: int, h: int, w: int):
    """(fwd, bwdw, nv, lanes) for this shape, compiled for the host's processor (once per process)."""
    import llvmlite.binding as llvm

    with _lock:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        target = llvm.Target.from_default_triple()
        features = llvm.get_host_cpu_features().flatten()
        machine = target.create_target_machine(cpu=llvm.get_host_cpu_name(), features=features, opt=3)
        module = llvm.parse_assembly(_module(k, c, ks, pad, h, w))
        module.verify()
        passes = llvm.create_pass_builder(machine, llvm.create_pipeline_tuning_options(speed_level=3))
        passes.getModulePassManager().run(module, passes)
        engine = llvm.create_mcjit_compiler(module, machine)
        engine.finalize_object()
        _engines.append(engine)
    proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
    fwd = proto(engine.get_function_address("fwd"))
    bwdw = proto(engine.get_function_address("bwdw"))
    return (fwd, bwdw, *_vectors(k, c))


class FirstConv(torch.autograd.Function):
    """The k networks' first convolutions: x (B, k, H, W), weight (k, c, 1, ks, ks), bias (k, c) -> (B, k c, Ho, Wo).

    The output is channels-last in memory. Gradients: the weights' and the biases' (the input's is not needed:
    it is the data)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, pad: int) -> torch.Tensor:
        if x.device.type != "cpu" or not x.dtype == weight.dtype == bias.dtype == torch.float32:
            raise ValueError("FirstConv runs float32 tensors on the CPU")
        bsz, k, h, w = x.shape
        c, ks = weight.shape[1], weight.shape[-1]
        fwd, _, nv, lanes = kernels(k, c, ks, pad, h, w)
        xin = x.new_zeros(bsz, h + 2 * pad, w + 2 * pad, lanes)
        xin[:, pad : pad + h, pad : pad + w, :k] = x.permute(0, 2, 3, 1)
        taps = x.new_zeros(ks * ks, 16 * nv)
        taps[:, : k * c] = weight.detach().reshape(k * c, ks * ks).t()
        b = x.new_zeros(16 * nv)
        b[: k * c] = bias.detach().reshape(-1)
        ho, wo = h + 2 * pad - ks + 1, w + 2 * pad - ks + 1
        out = x.new_empty(bsz, ho, wo, k * c)
        fwd(xin.data_ptr(), taps.data_ptr(), b.data_ptr(), out.data_ptr(), bsz)
        ctx.save_for_backward(xin)
        ctx.shape = (k, c, ks, pad, h, w)
        return out.permute(0, 3, 1, 2)  # (B, k c, Ho, Wo), channels-last

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (xin,) = ctx.saved_tensors
        k, c, ks, pad, h, w = ctx.shape
        _, bwdw, nv, _ = kernels(k, c, ks, pad, h, w)
        g = grad.permute(0, 2, 3, 1).contiguous()  # (B, Ho, Wo, k c): no copy when channels-last already
        gw = xin.new_empty(ks * ks, 16 * nv)
        gb = xin.new_empty(16 * nv)
        bwdw(xin.data_ptr(), g.data_ptr(), gw.data_ptr(), gb.data_ptr(), xin.shape[0])
        gweight = gw[:, : k * c].t().reshape(k, c, 1, ks, ks)
        return None, gweight, gb[: k * c].reshape(k, c), None
