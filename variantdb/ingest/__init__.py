"""Reading VCF/gVCF files into calls and no-call intervals: genotype rules, capture BEDs."""
