"""One construct per resource family; the stack composes them."""
