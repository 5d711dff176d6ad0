// objc_msgSend for the mock (System V x86-64). Callers cast it to the method's real signature,
// so the arguments are already in registers and on the stack exactly as the method expects.
// The trampoline saves every argument register (and rax, the vector-register count of variadic
// calls), asks anemock_lookup(self, _cmd) for the method, restores them, puts the stack back
// exactly as it found it and jumps (not calls) to the method: stack-passed arguments (the 7th
// and later integer arguments) stay where the method looks for them, and the method returns
// straight to the caller.

        .text
        .globl  objc_msgSend
        .type   objc_msgSend, @function
objc_msgSend:
        .cfi_startproc
        pushq   %rbp                    // rsp is now 16-byte aligned
        .cfi_def_cfa_offset 16
        .cfi_offset %rbp, -16
        movq    %rsp, %rbp
        .cfi_def_cfa_register %rbp
        subq    $192, %rsp              // 7 GPRs (64 bytes) + 8 xmm (128); keeps the alignment
        movq    %rdi, 0(%rsp)
        movq    %rsi, 8(%rsp)
        movq    %rdx, 16(%rsp)
        movq    %rcx, 24(%rsp)
        movq    %r8, 32(%rsp)
        movq    %r9, 40(%rsp)
        movq    %rax, 48(%rsp)
        movaps  %xmm0, 64(%rsp)
        movaps  %xmm1, 80(%rsp)
        movaps  %xmm2, 96(%rsp)
        movaps  %xmm3, 112(%rsp)
        movaps  %xmm4, 128(%rsp)
        movaps  %xmm5, 144(%rsp)
        movaps  %xmm6, 160(%rsp)
        movaps  %xmm7, 176(%rsp)
        call    anemock_lookup          // rdi = self, rsi = _cmd: already in place
        movq    %rax, %r11              // the method (anemock_lookup aborts on failure)
        movq    0(%rsp), %rdi
        movq    8(%rsp), %rsi
        movq    16(%rsp), %rdx
        movq    24(%rsp), %rcx
        movq    32(%rsp), %r8
        movq    40(%rsp), %r9
        movq    48(%rsp), %rax
        movaps  64(%rsp), %xmm0
        movaps  80(%rsp), %xmm1
        movaps  96(%rsp), %xmm2
        movaps  112(%rsp), %xmm3
        movaps  128(%rsp), %xmm4
        movaps  144(%rsp), %xmm5
        movaps  160(%rsp), %xmm6
        movaps  176(%rsp), %xmm7
        movq    %rbp, %rsp
        popq    %rbp                    // rsp back to the caller's return address
        .cfi_def_cfa %rsp, 8
        jmp     *%r11
        .cfi_endproc
        .size   objc_msgSend, .-objc_msgSend

        .section .note.GNU-stack,"",@progbits
