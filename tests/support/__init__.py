"""What several test folders share: helpers to import, and fixtures that a folder's
conftest imports (naming them in its ``__all__``) to use them."""
