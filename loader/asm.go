package loader

import "github.com/cilium/ebpf/asm"

// Pieces of the small hand-written programs (benchmark references, the
// clock sampler).

// frameReach loads the frame's bounds from the context in ctx (R2 data,
// R3 data_end) and jumps to "out" unless its first n bytes are there.
func frameReach(ctx asm.Register, n int32) asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R2, ctx, 0, asm.Word), // data
		asm.LoadMem(asm.R3, ctx, 4, asm.Word), // data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, n),
		asm.JGT.Reg(asm.R4, asm.R3, "out"),
	}
}

// mapLookup looks up the key at stack offset keyOff in the map fd: R0
// is the value or NULL.
func mapLookup(fd int, keyOff int32) asm.Instructions {
	return asm.Instructions{
		asm.LoadMapPtr(asm.R1, fd),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, keyOff),
		asm.FnMapLookupElem.Call(),
	}
}
