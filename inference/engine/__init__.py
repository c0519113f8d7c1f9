"""Pure PyTorch: no Django import. Everything needed to run a model."""
