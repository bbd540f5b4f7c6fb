-- PipeLayer-like ReRAM training accelerator (Song et al., "PipeLayer: A
-- Pipelined ReRAM-Based Accelerator for Deep Learning", HPCA 2017): the
-- inter-layer training pipeline and weight replication that rp.reram models.
-- Numbers that PipeLayer does not give come from the ISAAC preset (same
-- sources, see isaac.lua) and are marked so.
return {
  name = "pipelayer",
  description = "PipeLayer-like chip: 128x128 crossbars, 4-bit cells, 16-bit weights " ..
    "(4 cells each), bit-serial inputs, weight replication across the pipeline",
  -- PipeLayer section 4: 128x128 ReRAM arrays with 4-bit cells; 16-bit weights
  -- therefore take 4 cells (4 physical columns per weight).
  xbar = {rows = 128, cols = 128, weight_bits = 16, cell_bits = 4, signed = "offset"},
  input_bits = 16,          -- inputs fed bit by bit (spike-coded in PipeLayer)
  t_cycle = 100e-9,         -- s per read cycle (as ISAAC)
  t_write_row = 10.97e-6 / 128, -- PUMA's PipeLayer constants: 10.97 us per 128x128 array
  e_xbar_cycle = 0.3e-3 * 100e-9, -- as ISAAC
  e_adc = 1.666666667e-12,  -- as ISAAC (PipeLayer uses integrate-and-fire units instead)
  e_dac = 0.41667e-12,      -- as ISAAC
  e_buffer_word = 20.45e-12 / 16,
  e_router_word = 20.74e-12 / 16,
  e_shift_add = 0.021e-12,
  e_write_cell = 0.4e-12,   -- assumption, see isaac.lua
  a_xbar = 25e-6,
  a_periph = (1200 + 128 * 0.166015625 + 30) * 1e-6,
  -- A chip of the same crossbar budget as the ISAAC preset, so that the two
  -- differ only in cell bits (PipeLayer sizes its chip per network).
  chip_crossbars = 16128,
  copies = 2,
  write_parallel = 2016,
  offchip_bytes_per_s = 6.4e9,
  e_offchip_bit = 26e-12 / 128,
}
