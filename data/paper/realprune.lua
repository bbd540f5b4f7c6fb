-- Headline numbers reported by the ReaLPrune paper, printed beside ours by the
-- reproduction recipes. Source: Joardar, Doppa, Li, Chakrabarty, Pande,
-- "ReaLPrune: ReRAM Crossbar-aware Lottery Ticket Pruned CNNs", arXiv 2111.09272
-- (IEEE Transactions on Emerging Topics in Computing, 2023), abstract.
-- Only what the abstract states is here; per-network tables go in with their
-- table numbers when they are transcribed.
return {
  source = "arXiv 2111.09272, abstract",
  weights_pruned = 0.90,        -- "more than 90%" of the CNN weights, at crossbar granularity
  accuracy_loss = 0.0,          -- the pruned network trains from scratch with no accuracy loss
  hardware_saving = 0.772,      -- 77.2% less ReRAM crossbar hardware than the unpruned CNN
  training_speedup = 20,        -- about 20x faster training than the unpruned CNN
}
