# %% [markdown]
# # seed_layer

# %%
print(1 + 1)
