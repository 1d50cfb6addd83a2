"""The one parameter parser for every door: core fields and one module per provider's fields."""
