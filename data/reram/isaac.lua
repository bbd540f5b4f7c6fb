-- ISAAC-like ReRAM accelerator (Shafiee et al., "ISAAC: A Convolutional Neural
-- Network Accelerator with In-Situ Analog Arithmetic in Crossbars", ISCA 2016),
-- used here for training with the PipeLayer-style model of rp.reram.
-- Every number carries its source; see data/reram/README.md for the formulas.
-- Component energies and areas are those of Accelergy's hwcomponents library
-- ISAAC models (isaac.py), which derive them from the ISAAC paper (32 nm).
return {
  name = "isaac",
  description = "ISAAC-like chip: 128x128 crossbars, 2-bit cells, 16-bit weights, " ..
    "bit-serial 16-bit inputs, 8-bit ADC per crossbar",
  -- ISAAC section 4 / Table 2: 128x128 arrays, 2 bits per cell, 16-bit
  -- weights spread over 8 cells, inputs fed one bit per 100 ns cycle (1-bit DACs).
  xbar = {rows = 128, cols = 128, weight_bits = 16, cell_bits = 2, signed = "offset"},
  input_bits = 16,          -- bit-serial 16-bit inputs (ISAAC: 16 cycles per MVM)
  t_cycle = 100e-9,         -- s, crossbar read cycle (ISAAC: 100 ns)
  -- Writes: PUMA's PipeLayer constants give 10.97 us to write a 128x128 array
  -- serially, row by row: 10.97 us / 128 rows per row (NeuroSim/MNSIM model a
  -- row write as pulse width x rows written, the same form).
  t_write_row = 10.97e-6 / 128,
  -- Energy per action (J), Accelergy hwcomponents ISAAC models:
  e_xbar_cycle = 0.3e-3 * 100e-9, -- crossbar read: 0.3 mW (ISAAC Table 2) for one 100 ns cycle
  e_adc = 1.666666667e-12,  -- 8-bit SAR ADC, one conversion (16 mW / 9.6 GS/s; Kull et al. ISSCC 2013)
  e_dac = 0.41667e-12,      -- 1-bit DAC driving one row for one cycle
  e_buffer_word = 20.45e-12 / 16, -- eDRAM 64 KB: 20.45 pJ per 256-bit access, per 16-bit word
  e_router_word = 20.74e-12 / 16, -- router: 20.74 pJ per 256 bits, per 16-bit word
  e_shift_add = 0.021e-12,  -- shift-and-add of one 16-bit partial sum
  -- ReRAM write energy per cell: an order-of-magnitude assumption (a 2 V, 10 ns
  -- SET/RESET pulse into ~100 kOhm, as in NeuroSim's defaults); not from ISAAC,
  -- which does not write weights during inference. Change it to study writes.
  e_write_cell = 0.4e-12,
  -- Area (mm^2): crossbar 25 um^2 (ISAAC Table 2: 8 arrays 0.0002 mm^2); its
  -- periphery: one 8-bit ADC (1200 um^2), 128 1-bit DACs (0.166 um^2 each),
  -- 4 shift-and-add units (60 um^2 each, ISAAC IMA shares 4 among 8 arrays: 30 um^2).
  a_xbar = 25e-6,
  a_periph = (1200 + 128 * 0.166015625 + 30) * 1e-6,
  -- The chip: ISAAC-CE has 168 tiles x 12 IMAs x 8 crossbars = 16,128 crossbars.
  chip_crossbars = 168 * 12 * 8,
  -- Training keeps 2 copies of each layer's crossbars: W for the forward MVM
  -- and W^T for the error MVM (PipeLayer keeps both; an assumption here).
  copies = 2,
  -- Reprogramming when the network does not fit: crossbars programmed at once
  -- (one per IMA: 168 x 12) and weights streamed in over ISAAC's chip-to-chip
  -- HyperTransport link (6.4 GB/s, 26 pJ per 128-bit transfer in Accelergy's model).
  write_parallel = 168 * 12,
  offchip_bytes_per_s = 6.4e9,
  e_offchip_bit = 26e-12 / 128,
}
