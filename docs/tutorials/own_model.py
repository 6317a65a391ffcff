# %% [markdown]
# # own_model

# %%
print(1 + 1)
