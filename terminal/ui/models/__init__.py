"""Qt item models that adapt service state for the views; no business rules."""
