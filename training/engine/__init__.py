"""Pure PyTorch: no Django import. Everything needed to make a model."""
