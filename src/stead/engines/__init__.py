"""The engines stead ships. Each is a subpackage of the same shape, imported only when its URL is used."""

__all__: list[str] = []
