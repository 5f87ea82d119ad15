"""Training sparse encoders (losses, teachers, trainer). Not built yet: see issue 5."""
